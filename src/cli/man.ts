// The manual pages, generated from what `--help` and the configuration
// loaders are made of, so they cannot drift from the program:
//   sixgate(8)            the commander program (commands, arguments, options,
//                         their descriptions and defaults, each help text's
//                         trailing sections)
//   sixgate.yaml(5)       the service options (src/config/options.ts: key,
//                         flag, environment variable, schema, default)
//   sixgate-nat.yaml(5)   the JSON Schema of `sixgate nat`'s file
//                         (src/datapath/nat-file.ts), with its descriptions
// `npm run man` writes them to man/ (scripts/man.mjs); a test checks the
// committed pages equal what this module makes now.
import { Help, type Command, type Option } from 'commander';
import { buildProgram } from './program.js';
import {
  OPTIONS, FILE_SCHEMA, IFNAME_PATTERN, IPV4_ADDRESS_PATTERN, IPV6_ADDRESS_PATTERN, IPV6_PREFIX_PATTERN, type OptionSpec,
} from '../config/options.js';
import { NAT_FILE_SCHEMA } from '../datapath/nat-file.js';

type Schema = {
  readonly type?: string;
  readonly description?: string;
  readonly enum?: readonly string[];
  readonly pattern?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly minLength?: number;
  readonly items?: Schema;
  readonly oneOf?: readonly Schema[];
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly additionalProperties?: Schema | boolean;
  readonly required?: readonly string[];
};

/** Page file name (`sixgate.8`) → roff source. */
export async function manPages(): Promise<Map<string, string>> {
  // No command named: every command is loaded.
  const program = await buildProgram([]);
  const version = program.version() ?? '';
  return new Map([
    ['sixgate.8', commandPage(program, version)],
    ['sixgate.yaml.5', serviceFilePage(version)],
    ['sixgate-nat.yaml.5', natFilePage(version)],
  ]);
}

// ------------------------------------------------------------------ sixgate(8)

function commandPage(program: Command, version: string): string {
  const help = program.createHelp();
  const sections = trailingSections(program);
  const description = sections.shift();
  const out = [
    header('sixgate', 8, version, 'System Manager\'s Manual', 'the sixgate command line (src/cli/program.ts)'),
    '.SH NAME', `sixgate \\- ${esc(program.description())}`,
    '.SH SYNOPSIS', synopsis(help.commandUsage(program)),
    '.SH DESCRIPTION', paragraph(description?.body ?? []),
    '.SH OPTIONS', ...options(help, program),
    '.SH COMMANDS',
  ];
  for (const command of help.visibleCommands(program)) {
    if (command.name() === 'help') continue;
    out.push(...commandSection(command));
  }
  for (const section of sections.filter((s) => !/^see also$/i.test(s.title))) {
    out.push(`.SH ${esc(section.title.toUpperCase())}`, preformatted(section.body));
  }
  const seeAlso = sections.find((s) => /^see also$/i.test(s.title))?.body ?? [];
  out.push('.SH SEE ALSO', '.BR sixgate.yaml (5),', '.BR sixgate\\-nat.yaml (5),', '.BR ndppd.conf (5)', ...(seeAlso.length > 0 ? ['.PP', paragraph(seeAlso)] : []));
  return out.join('\n') + '\n';
}

function commandSection(command: Command): string[] {
  const help = command.createHelp();
  const args = help.visibleArguments(command);
  const out = [
    `.SS "${esc(help.commandUsage(command))}"`,
    paragraph([command.description()]),
  ];
  for (const arg of args) out.push('.TP', `.I ${esc(help.argumentTerm(arg))}`, esc(help.argumentDescription(arg)));
  out.push(...options(help, command));
  for (const section of trailingSections(command)) {
    out.push('.PP', `${esc(section.title)}:`, preformatted(section.body));
  }
  for (const sub of help.visibleCommands(command)) {
    if (sub.name() !== 'help') out.push(...commandSection(sub));
  }
  return out;
}

/** The options of `command`; a subcommand's --help is left out (the program's own says it once). */
function options(help: Help, command: Command): string[] {
  return help.visibleOptions(command).filter((o: Option) => command.parent === null || o.long !== '--help')
    .flatMap((o: Option) => ['.TP', `.B ${esc(help.optionTerm(o))}`, esc(help.optionDescription(o))]);
}

interface Section {
  title: string;
  body: string[];
}

/**
 * What a command's help prints after commander's own part (addHelpText
 * 'after'), cut into its "Title: ..." sections; text before the first title
 * is a section titled "Description".
 */
function trailingSections(command: Command): Section[] {
  let full = '';
  command.configureOutput({ writeOut: (s) => { full += s; } });
  command.outputHelp();
  const own = command.helpInformation();
  const lines = full.slice(full.indexOf(own) + own.length).split('\n');
  const sections: Section[] = [];
  for (const line of lines) {
    // "Title:" or "Title (qualifier):", then maybe text; a sentence with a colon ("It verifies, with timings:") is not one.
    const heading = /^([A-Z][^:(,]*?)(?: (\([^)]*\)))?:\s*(.*)$/.exec(line);
    if (heading !== null) {
      sections.push({ title: heading[1]!, body: [heading[2], heading[3]].filter((s): s is string => s !== undefined && s !== '') });
    } else if (sections.length === 0) {
      if (line.trim() !== '') sections.push({ title: 'Description', body: [line] });
    } else {
      sections[sections.length - 1]!.body.push(line);
    }
  }
  for (const s of sections) {
    while (s.body.length > 0 && s.body[s.body.length - 1]!.trim() === '') s.body.pop();
  }
  return sections;
}

// ------------------------------------------------------------- sixgate.yaml(5)

function serviceFilePage(version: string): string {
  const schemas = FILE_SCHEMA.properties as Readonly<Record<string, Schema>>;
  const out = [
    header('sixgate.yaml', 5, version, 'File Formats Manual', 'the service options (src/config/options.ts)'),
    '.SH NAME', 'sixgate.yaml \\- configuration file of the sixgate service (sixgate run)',
    '.SH SYNOPSIS', '.I /etc/sixgate/sixgate.yaml',
    '.SH DESCRIPTION',
    paragraph([
      'A YAML (or JSON) mapping of the options below, read by sixgate run (and the sixgate.service unit) from the file',
      'given with -c or SIXGATE_CONFIG, else from /etc/sixgate/sixgate.yaml when it exists. Every option is also a',
      'command-line flag and a SIXGATE_* environment variable; per option, a flag wins over the environment, which wins',
      'over the file, which wins over the default. An unknown key or a value of the wrong form is an error naming',
      'the key and its line. sixgate config check FILE validates a file; sixgate config options lists the options.',
    ]),
    '.SH OPTIONS',
  ];
  for (const option of OPTIONS) out.push(...serviceOption(option, schemas[option.key]!));
  out.push('.SH EXAMPLE', preformatted([
    'uplink: eth0',
    'addressMode: dedicated',
    'throwPrefixes: [2001:db8:ffff::/48]',
    'metricsListen: "[::1]:9464"',
    'logLevel: info',
  ]));
  out.push('.SH SEE ALSO', '.BR sixgate (8),', '.BR sixgate\\-nat.yaml (5)');
  return out.join('\n') + '\n';
}

function serviceOption(option: OptionSpec, schema: Schema): string[] {
  const form = option.kind === 'list' ? 'a sequence, or a comma-separated string'
    : option.kind === 'map' ? 'a mapping, or a string "key=value,..."'
    : option.kind === 'range' ? 'a pair [low, high], or a string "low-high"'
    : describeSchema(schema);
  return [
    '.TP', `.B ${esc(option.key)}`,
    esc(`${capitalize(option.description)}: ${form}. Default: ${option.defaultText}.`),
    '.br', esc(`Flag ${option.flag.split(' ')[0]}${option.kind === 'boolean' ? ` (and --no-${option.flag.slice(2)})` : ''}, environment ${option.env}.`),
  ];
}

// --------------------------------------------------------- sixgate-nat.yaml(5)

function natFilePage(version: string): string {
  const schema = NAT_FILE_SCHEMA as Schema;
  const out = [
    header('sixgate-nat.yaml', 5, version, 'File Formats Manual', 'the schema of sixgate nat\'s file (src/datapath/nat-file.ts)'),
    '.SH NAME', 'sixgate\\-nat.yaml \\- static data-path file of sixgate nat',
    '.SH SYNOPSIS', '.I /etc/sixgate/nat.yaml',
    '.SH DESCRIPTION', paragraph([schema.description ?? '']),
    '.SH KEYS', ...schemaKeys(schema),
  ];
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    const items = property.items;
    if (items?.properties === undefined) continue;
    out.push(`.SS "${esc(`Each item of ${name}`)}"`, ...schemaKeys(items));
  }
  out.push('.SH SEE ALSO', '.BR sixgate (8),', '.BR sixgate.yaml (5)');
  return out.join('\n') + '\n';
}

function schemaKeys(schema: Schema): string[] {
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {}).flatMap(([key, property]) => [
    '.TP', `.B ${esc(key)}${required.has(key) ? ' (required)' : ''}`,
    esc(`${property.description ?? ''}${property.description === undefined ? '' : ' '}(${describeSchema(property)})`),
  ]);
}

// ------------------------------------------------------------------- shared

/** The patterns of the schemas, in words. */
const PATTERN_WORDS: Readonly<Record<string, string>> = {
  [IPV6_PREFIX_PATTERN]: 'an IPv6 prefix',
  [IPV6_ADDRESS_PATTERN]: 'an IPv6 address',
  [IPV4_ADDRESS_PATTERN]: 'an IPv4 address',
  [IFNAME_PATTERN]: 'an interface name',
};

/** A JSON Schema's constraints in words ("an integer from 1 to 65535"). */
function describeSchema(schema: Schema): string {
  if (schema.enum !== undefined) return `one of ${schema.enum.join(', ')}`;
  if (schema.oneOf !== undefined) return schema.oneOf.map(describeSchema).join(', or ');
  const range = (low?: number, high?: number) =>
    low !== undefined && high !== undefined ? ` from ${low} to ${high}` : low !== undefined ? ` of at least ${low}` : high !== undefined ? ` up to ${high}` : '';
  switch (schema.type) {
    case 'integer': return `an integer${range(schema.minimum, schema.maximum)}`;
    case 'boolean': return 'true or false';
    case 'string':
      return schema.pattern === undefined ? 'a string' : PATTERN_WORDS[schema.pattern] ?? `a string matching ${schema.pattern}`;
    case 'array': {
      if (schema.items?.properties !== undefined) return 'a sequence of mappings (below)';
      const exact = schema.minItems !== undefined && schema.minItems === schema.maxItems;
      return `a sequence${exact ? ` of ${schema.minItems} items` : ''}, each ${schema.items === undefined ? 'any value' : describeSchema(schema.items)}` +
        (schema.minItems !== undefined && !exact ? ` (at least ${schema.minItems})` : '');
    }
    case 'object':
      return typeof schema.additionalProperties === 'object' ? `a mapping to ${describeSchema(schema.additionalProperties)}` : 'a mapping';
    default: return 'a value';
  }
}

function header(name: string, section: number, version: string, manual: string, source: string): string {
  return [
    `.\\" Generated by \`npm run man\` from ${source}; do not edit.`,
    `.TH ${esc(name.toUpperCase())} ${section} "" "sixgate ${version}" "${manual}"`,
  ].join('\n');
}

function synopsis(usage: string): string {
  return `.B sixgate\n${esc(usage.split(' ').slice(1).join(' '))}`;
}

/** Lines of prose, joined and filled by the formatter. */
function paragraph(lines: readonly string[]): string {
  return esc(lines.map((l) => l.trim()).filter((l) => l !== '').join(' '));
}

/** Lines kept as they are (aligned columns, examples), their common indentation removed. */
function preformatted(lines: readonly string[]): string {
  const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)![0].length));
  return ['.nf', ...lines.map((l) => esc(l.slice(Number.isFinite(indent) ? indent : 0)) || '.sp'), '.fi'].join('\n');
}

/**
 * Text safe in roff: backslashes and hyphens escaped, no line starting as a
 * request, and the page ASCII (other characters as \[uXXXX], which every
 * groff reads without preconv).
 */
function esc(text: string): string {
  return text.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^([.'])/gm, '\\&$1')
    .replace(/[^\x00-\x7f]/gu, (c) => `\\[u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`);
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
