// `sixgate capture [--drops] [--reason R] [-c N] -w FILE.pcapng`: the packets
// the running daemon drops (or all it sees), into a pcapng file or, with
// `-w -`, to stdout for `tcpdump -r -` or Wireshark (`wireshark -k -i -`).
// Each packet carries what became of it as a pcapng comment ("sixgate nat66
// drop: no-mapping (...)"). The daemon copies the packets into a bounded
// buffer and this drains it every 100 ms (src/service/capture.ts): nothing is
// copied while nobody captures, and a reader too slow loses packets (told on
// stderr), never the daemon's memory.
import { closeSync, openSync, writeSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { PcapngWriter } from '../pcap/pcapng-writer.js';
import { addSocketOption, ask, type ClientOptions } from './control-client.js';
import type { CaptureLoss, CapturedView } from '../service/capture.js';

interface CaptureOptions extends Pick<ClientOptions, 'socket'> {
  drops?: boolean;
  reason?: string;
  component?: string;
  count?: string;
  write: string;
}

export function registerCapture(program: Command): void {
  addSocketOption(program
    .command('capture')
    .description("capture the running daemon's dropped packets (or all it handles) into a pcapng file, each with its drop reason as a comment"))
    .option('--drops', 'only the packets sixgate drops')
    .option('--reason <name>', 'only the packets dropped for this reason (sixgate counters lists them; implies --drops)')
    .addOption(new Option('--component <name>', 'only the NAT66 data path (raw IPv6 from the TUN) or the NDP proxy (Ethernet frames); '
      + 'without it, a daemon running both writes every packet Linux cooked, as tcpdump -i any does').choices(['nat66', 'ndp']))
    .option('-c, --count <n>', 'stop after this many packets')
    .requiredOption('-w, --write <file>', 'pcapng file to write; - for stdout (sixgate capture -w - | tcpdump -r -)')
    .action(async (opts: CaptureOptions) => {
      const body: { op: string; [key: string]: unknown } = { op: 'capture', drops: opts.drops === true };
      if (opts.reason !== undefined) body.reason = opts.reason;
      if (opts.component !== undefined) body.component = opts.component;
      if (opts.count !== undefined) {
        const count = Number(opts.count);
        if (!Number.isInteger(count) || count < 1) {
          process.stderr.write(`sixgate: -c must be a positive integer, not ${JSON.stringify(opts.count)}\n`);
          process.exitCode = 2;
          return;
        }
        body.count = count;
      }
      const toStdout = opts.write === '-';
      const fd = toStdout ? 1 : openSync(opts.write, 'w', 0o600);
      const writer = new PcapngWriter((block) => writeBlock(fd, block));
      const interfaces = new Map<string, number>();
      let captured = 0;
      const summary = (): void => {
        process.stderr.write(`${captured} packet${captured === 1 ? '' : 's'} captured\n`);
      };
      // Ctrl-C ends a capture without -c: every block is written whole, so the file is complete.
      process.once('SIGINT', () => {
        summary();
        process.exit(0);
      });
      const count = await ask(opts, body, (part) => {
        for (const p of part as (CapturedView | CaptureLoss)[]) {
          if ('lost' in p) {
            process.stderr.write(`sixgate: ${p.lost} ${p.component} packets not captured (the capture buffer was full: write to a faster place, or narrow it with --reason)\n`);
            continue;
          }
          const key = `${p.linktype} ${p.interface}`;
          let iface = interfaces.get(key);
          if (iface === undefined) interfaces.set(key, iface = writer.addInterface(p.linktype, p.interface));
          writer.add(iface, { tsNs: BigInt(p.timeUs) * 1000n, data: Buffer.from(p.data, 'base64'), comment: p.comment });
          captured++;
        }
      }, { timeoutMs: 0 });
      if (!toStdout) closeSync(fd);
      if (count !== undefined) summary();
    });
}

/** A whole block, also into a pipe that is momentarily full (EAGAIN on a non-blocking stdout). */
function writeBlock(fd: number, block: Uint8Array): void {
  for (let at = 0; at < block.length;) {
    try {
      at += writeSync(fd, block, at);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      if (code === 'EPIPE') process.exit(0); // the reader has seen enough (tcpdump -c)
      throw err;
    }
  }
}
