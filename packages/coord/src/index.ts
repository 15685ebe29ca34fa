/**
 * @walstream/coord — the StreamingCoord: decides which node owns each pchannel, moves channels when
 * nodes come and go, hands out timeticks, and broadcasts a message to many vchannels.
 */
export {};
