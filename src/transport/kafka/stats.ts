/**
 * What the Kafka transport knows about itself while `tandem run` streams, for metrics: the feed's position in the
 * change topic (written by feed.ts as it reads and as the shadow acknowledges) and the topic's offsets and the
 * connector's state (sampled from the brokers and Connect by sampler.ts).
 */
export interface KafkaStats {
  topic: string | null;
  connector: string | null;
  /** The change topic's first held offset (retention deletes older ones) and next offset to be written; sampled. */
  lowOffset: number | null;
  highOffset: number | null;
  /** Every record up to this offset is applied to the shadow or carries nothing to apply (copies, heartbeats). */
  settledOffset: number | null;
  /** Kafka write time (ms) of the oldest record read and not yet settled; null when all read records are settled. */
  oldestUnsettledAt: number | null;
  /** Records read from the change topic by this process, and those recognised as copies Debezium sent again. */
  eventsRead: number;
  redeliveredEvents: number;
  /** The connector's and its tasks' states as Kafka Connect reports them (RUNNING, FAILED, …); sampled. */
  connectorState: string | null;
  tasks: Array<{ id: number; state: string }>;
}

export function emptyKafkaStats(): KafkaStats {
  return { topic: null, connector: null, lowOffset: null, highOffset: null, settledOffset: null, oldestUnsettledAt: null, eventsRead: 0, redeliveredEvents: 0, connectorState: null, tasks: [] };
}

/** Records written to the change topic that the shadow does not hold yet; null while unknown. */
export function kafkaLagOffsets(s: KafkaStats): number | null {
  if (s.highOffset === null || s.settledOffset === null) return null;
  return Math.max(0, s.highOffset - 1 - s.settledOffset);
}

/** How long ago the oldest record not yet applied was written to Kafka: 0 when everything read is applied. */
export function kafkaLagSeconds(s: KafkaStats, now = Date.now()): number | null {
  if (s.settledOffset === null) return null;
  return s.oldestUnsettledAt === null ? 0 : Math.max(0, (now - s.oldestUnsettledAt) / 1000);
}

/** Records between the retention edge and the shadow's position: how far retention may advance before events the shadow needs are deleted. */
export function kafkaRetentionHeadroom(s: KafkaStats): number | null {
  if (s.lowOffset === null || s.settledOffset === null) return null;
  return Math.max(0, s.settledOffset + 1 - s.lowOffset);
}
