// The namespace kit lives in src/lab/netns.ts (`sixgate lab` needs it at run
// time); the tests keep importing it from here.
export { NS_PREFIX, sweepStale, Netns, Lab, type RunResult, type AddrOptions, type LabOptions } from '../../src/lab/netns.js';
