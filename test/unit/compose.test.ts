/**
 * docker-compose.yml cannot run here (no Docker engine): its structure is checked instead. Every dependency names a
 * service, the Kafka profile holds a broker, a Connect worker and a Tandem with transport.kind: kafka, Tandem's
 * environment names only real config variables (the same table `tandem run` reads), and the parts agree with each
 * other: the brokers Tandem reads are the broker's advertised listener, Connect is where Tandem registers
 * connectors, and the secrets file Tandem writes is where Connect's file config provider reads it.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configEnvVariables } from '../../src/config/load.js';

interface Service {
  image?: string;
  build?: unknown;
  profiles?: string[];
  environment?: Record<string, string | number>;
  volumes?: string[];
  depends_on?: string[];
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const services = compose.services;

describe('docker-compose.yml', () => {
  it('every dependency and named volume exists', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const dep of s.depends_on ?? []) expect(Object.keys(services), `${name} depends on ${dep}`).toContain(dep);
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0] as string;
        if (!source.startsWith('.') && !source.startsWith('/')) expect(Object.keys(compose.volumes ?? {}), `${name} mounts ${source}`).toContain(source);
      }
    }
  });

  it('Tandem services set only config variables tandem run knows', () => {
    const known = new Set(configEnvVariables().map(([, name]) => name));
    for (const name of ['tandem', 'tandem-kafka']) {
      for (const key of Object.keys(services[name]?.environment ?? {})) expect(known, `${name}: ${key}`).toContain(key);
    }
  });

  it('the kafka profile: a broker, Connect with the Debezium plugins, and Tandem with transport.kind: kafka, wired to each other', () => {
    const kafka = services.kafka as Service;
    const connect = services.connect as Service;
    const tandem = services['tandem-kafka'] as Service;
    for (const s of [kafka, connect, tandem]) expect(s.profiles).toEqual(['kafka']);
    // The embedded Tandem stays the default.
    expect(services.tandem?.profiles).toBeUndefined();
    const env = tandem.environment as Record<string, string>;
    expect(env.TANDEM_TRANSPORT_KIND).toBe('kafka');
    expect(parse(env.TANDEM_TRANSPORT_KAFKA_BROKERS as string)).toEqual([String(kafka.environment?.KAFKA_ADVERTISED_LISTENERS).replace(/^PLAINTEXT:\/\//, '')]);
    expect(connect.environment?.BOOTSTRAP_SERVERS).toBe(env.TANDEM_TRANSPORT_KAFKA_BROKERS?.replace(/[[\]]/g, ''));
    expect(env.TANDEM_TRANSPORT_KAFKA_CONNECT_URL).toBe('http://connect:8083');
    // Debezium's Connect image ships both connectors Tandem renders configs for.
    expect(connect.image).toMatch(/^quay\.io\/debezium\/connect:3\./);
    // Passwords through the file config provider, from the volume both mount at the path Tandem's config names.
    expect(connect.environment?.CONNECT_CONFIG_PROVIDERS).toContain('file');
    expect(connect.environment?.CONNECT_CONFIG_PROVIDERS_FILE_CLASS).toBe('org.apache.kafka.common.config.provider.FileConfigProvider');
    const secrets = env.TANDEM_TRANSPORT_KAFKA_CONNECT_SECRETS_FILE as string;
    expect(env.TANDEM_TRANSPORT_KAFKA_SECRETS_FILE).toBe(secrets);
    const mountOf = (s: Service) => s.volumes?.map((v) => v.split(':')).find(([source]) => source === 'tandem-secrets')?.[1];
    expect(secrets.startsWith(`${mountOf(connect)}/`)).toBe(true);
    expect(mountOf(tandem)).toBe(mountOf(connect));
    // Topics get the settings Tandem needs from Connect and Debezium, never broker defaults.
    expect(kafka.environment?.KAFKA_AUTO_CREATE_TOPICS_ENABLE).toBe('false');
  });
});
