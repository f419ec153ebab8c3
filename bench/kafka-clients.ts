/**
 * kafkajs (the client Tandem uses, behind src/transport/kafka/client.ts) against node-rdkafka (librdkafka), reading
 * the same change topic from its first record to its last, alternating: records/s and MiB/s of the fetch alone
 * (decoding is Tandem's either way). node-rdkafka is not a dependency: its install compiles librdkafka (16 minutes
 * on this 2-core machine), so this row runs only when BENCH_RDKAFKA_DIR names a folder where `npm install
 * node-rdkafka` was run.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { KafkajsReader, type TopicRecord } from '../src/transport/kafka/client.js';
import type { BenchRow } from './lib.js';

interface RdkafkaMessage {
  offset: number;
  value: Buffer | null;
}
interface RdkafkaConsumer {
  connect(opts: unknown, cb: (err: Error | null) => void): void;
  assign(assignments: Array<{ topic: string; partition: number; offset: number }>): void;
  consume(n: number, cb: (err: Error | null, messages: RdkafkaMessage[]) => void): void;
  disconnect(cb: () => void): void;
  setDefaultConsumeTimeout(ms: number): void;
}
type RdkafkaModule = { KafkaConsumer: new (global: Record<string, unknown>, topic: Record<string, unknown>) => RdkafkaConsumer };

/** Reads `[0, end)` of partition 0 with Tandem's own reader; seconds and bytes. */
async function withKafkajs(brokers: string[], topic: string, end: bigint): Promise<{ seconds: number; bytes: number }> {
  const reader = new KafkajsReader(brokers, 'tandem-bench');
  let bytes = 0;
  const started = performance.now();
  const finished = new Promise<void>((resolve) => {
    void reader.subscribe(topic, new Map([[0, '0']]), (records: TopicRecord[]) => {
      for (const r of records) bytes += (r.value?.length ?? 0) + (r.key?.length ?? 0);
      const last = records[records.length - 1];
      if (last && BigInt(last.offset) >= end - 1n) resolve();
      return Promise.resolve();
    });
  });
  await finished;
  const seconds = (performance.now() - started) / 1000;
  await reader.close();
  return { seconds, bytes };
}

async function withRdkafka(mod: RdkafkaModule, brokers: string[], topic: string, end: bigint): Promise<{ seconds: number; bytes: number }> {
  // Tuned for throughput the way its documentation suggests: a large local queue and short consume timeouts.
  const consumer = new mod.KafkaConsumer(
    { 'metadata.broker.list': brokers.join(','), 'group.id': `tandem-bench-${Date.now()}`, 'enable.auto.commit': false, 'queued.min.messages': 200_000, 'fetch.max.bytes': 52_428_800, 'fetch.wait.max.ms': 100 },
    {},
  );
  consumer.setDefaultConsumeTimeout(20);
  await new Promise<void>((resolve, reject) => consumer.connect({}, (err) => (err ? reject(err) : resolve())));
  const started = performance.now();
  consumer.assign([{ topic, partition: 0, offset: 0 }]);
  let bytes = 0;
  for (;;) {
    const batch = await new Promise<RdkafkaMessage[]>((resolve, reject) => consumer.consume(10_000, (err, m) => (err ? reject(err) : resolve(m))));
    for (const m of batch) bytes += m.value?.length ?? 0;
    const last = batch[batch.length - 1];
    if (last && BigInt(last.offset) >= end - 1n) break;
  }
  const seconds = (performance.now() - started) / 1000;
  await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  return { seconds, bytes };
}

export async function benchKafkaClients(opts: { brokers: string[]; topic: string; end: bigint; reps: number }): Promise<BenchRow[]> {
  const dir = process.env.BENCH_RDKAFKA_DIR;
  if (!dir) return [];
  const mod = createRequire(join(dir, 'package.json'))('node-rdkafka') as RdkafkaModule;
  const kafkajs: number[] = [];
  const rdkafka: number[] = [];
  const mib: Record<'kafkajs' | 'rdkafka', number[]> = { kafkajs: [], rdkafka: [] };
  for (let i = 0; i < opts.reps; i++) {
    const a = await withKafkajs(opts.brokers, opts.topic, opts.end);
    kafkajs.push(Number(opts.end) / a.seconds);
    mib.kafkajs.push(a.bytes / 2 ** 20 / a.seconds);
    const b = await withRdkafka(mod, opts.brokers, opts.topic, opts.end);
    rdkafka.push(Number(opts.end) / b.seconds);
    mib.rdkafka.push(b.bytes / 2 ** 20 / b.seconds);
    process.stderr.write(`kafka clients rep ${i + 1}/${opts.reps}: kafkajs ${kafkajs.at(-1)?.toFixed(0)} records/s, node-rdkafka ${rdkafka.at(-1)?.toFixed(0)} records/s\n`);
  }
  const command = 'BENCH_RDKAFKA_DIR=<folder with node-rdkafka> npm run bench -- --only kafka';
  const anchorName = 'node-rdkafka (librdkafka), same topic, alternating';
  return [
    { name: 'kafka-client-records', metric: `change topic read start to end (${opts.end.toLocaleString('en')} records) with kafkajs`, unit: 'records/s', tandem: kafkajs, anchor: rdkafka, anchorName, command },
    { name: 'kafka-client-mib', metric: 'the same, bytes of keys and values', unit: 'MiB/s', tandem: mib.kafkajs, anchor: mib.rdkafka, anchorName, command },
  ];
}
