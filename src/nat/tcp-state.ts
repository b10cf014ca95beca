// TCP session tracking after RFC 6146 §3.5.2 ("V6" = inside, "V4" = outside).
// SYN seen in both directions makes a session established, which is what
// lets a simultaneous open through (RFC 5382 REQ-2); RST anywhere makes it
// transitory, and a later non-RST packet re-establishes it (RFC 7857 §2.2:
// keep the session through a RST for the transitory time).

import { Flag } from '../wire/tcp.js';
import { TcpState, Direction } from './types.js';

/** State after a packet with `flags` in direction `dir` (Direction.Out / In). */
export function tcpNext(state: number, flags: number, dir: number): number {
  if (flags & Flag.Rst) return TcpState.Trans;
  const syn = (flags & Flag.Syn) !== 0;
  const fin = (flags & Flag.Fin) !== 0;
  switch (state) {
    case TcpState.SynOut: return dir === Direction.In && syn ? TcpState.Established : state;
    case TcpState.SynIn: return dir === Direction.Out && syn ? TcpState.Established : state;
    case TcpState.Established: return fin ? (dir === Direction.Out ? TcpState.FinOut : TcpState.FinIn) : state;
    case TcpState.FinOut: return dir === Direction.In && fin ? TcpState.FinBoth : state;
    case TcpState.FinIn: return dir === Direction.Out && fin ? TcpState.FinBoth : state;
    case TcpState.FinBoth:
      // A fresh SYN reuses the tuple for a new connection.
      return syn && (flags & Flag.Ack) === 0 ? (dir === Direction.Out ? TcpState.SynOut : TcpState.SynIn) : state;
    default: return TcpState.Established; // Trans (or None): any non-RST packet re-establishes
  }
}

/** The state a session opened by this packet starts in: a lone SYN waits for the answer, anything else is picked up mid-stream. */
export function tcpOpening(flags: number, dir: number): number {
  if ((flags & (Flag.Syn | Flag.Ack)) !== Flag.Syn) return TcpState.Trans;
  return dir === Direction.Out ? TcpState.SynOut : TcpState.SynIn;
}
