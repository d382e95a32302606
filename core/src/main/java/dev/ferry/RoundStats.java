package dev.ferry;

import dev.ferry.spi.Bandwidth;
import java.time.Duration;

/**
 * What one round of copying did. Round 0 is the first full pass; the last entry of a completed
 * migration is the stop-and-copy round.
 *
 * @param round the round's number
 * @param stopAndCopy whether the guest was paused during this round
 * @param pagesSent pages sent, zero pages included
 * @param zeroPages of those, pages sent as zero markers
 * @param bytesOnWire bytes this round put on the wire, framing included
 * @param duration how long the round took
 * @param bandwidth bytes of guest memory sent per second during the round
 * @param pagesDirtied distinct pages the guest dirtied while the round ran
 * @param dirtyRatePagesPerSecond pages dirtied per second while the round ran
 * @param expectedDowntime the downtime predicted at the end of the round
 * @param throttlePercent the vCPU throttle during the round
 */
public record RoundStats(
    long round,
    boolean stopAndCopy,
    long pagesSent,
    long zeroPages,
    long bytesOnWire,
    Duration duration,
    Bandwidth bandwidth,
    long pagesDirtied,
    long dirtyRatePagesPerSecond,
    Duration expectedDowntime,
    int throttlePercent) {}
