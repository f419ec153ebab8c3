import pg from 'pg';
import { fail, pass, warn, type CheckItem } from '../checks.js';
import type { CheckContext } from '../engine.js';
import { publicationName, slotName } from '../../model/names.js';
import type { PgTableInfo } from './introspect.js';

const q = (name: string) => pg.escapeIdentifier(name);

interface RoleInfo {
  user: string;
  superuser: boolean;
  replication: boolean;
}

async function roleInfo(client: pg.Client): Promise<RoleInfo> {
  const { rows } = await client.query<{ user: string; superuser: boolean; replication: boolean }>(
    `select current_user as user, rolsuper as superuser, rolreplication as replication from pg_roles where rolname = current_user`,
  );
  return rows[0] as RoleInfo;
}

/** Prerequisites for logical decoding with pgoutput from this side. */
export async function checkPgCapture(client: pg.Client, ctx: CheckContext, tables: Map<string, PgTableInfo>): Promise<CheckItem[]> {
  const side = ctx.side;
  const items: CheckItem[] = [];
  const role = await roleInfo(client);
  const setting = async (name: string) => (await client.query<{ setting: string }>(`select setting from pg_settings where name = $1`, [name])).rows[0]?.setting ?? '';

  const walLevel = await setting('wal_level');
  items.push(
    walLevel === 'logical'
      ? pass('postgres.wal_level', side, 'wal_level is logical', `wal_level = ${walLevel}`)
      : fail('postgres.wal_level', side, 'wal_level must be logical', `wal_level = ${walLevel}; logical decoding needs logical`, `ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL`),
  );

  const slot = slotName(ctx.migration);
  const slots = await client.query<{ used: string; mine: string }>(
    `select count(*)::text as used, count(*) filter (where slot_name = $1)::text as mine from pg_replication_slots`,
    [slot],
  );
  const maxSlots = Number(await setting('max_replication_slots'));
  const usedSlots = Number(slots.rows[0]?.used ?? 0);
  const haveSlot = Number(slots.rows[0]?.mine ?? 0) > 0;
  items.push(
    haveSlot || usedSlots < maxSlots
      ? pass('postgres.replication_slots', side, 'a replication slot is available', haveSlot ? `slot ${slot} exists` : `${usedSlots} of max_replication_slots = ${maxSlots} in use`)
      : fail('postgres.replication_slots', side, 'no free replication slot', `${usedSlots} of max_replication_slots = ${maxSlots} in use`, `ALTER SYSTEM SET max_replication_slots = ${maxSlots + 2}; then restart PostgreSQL (or drop an unused slot with pg_drop_replication_slot)`),
  );

  const maxSenders = Number(await setting('max_wal_senders'));
  const senders = Number((await client.query<{ n: string }>(`select count(*)::text as n from pg_stat_replication`)).rows[0]?.n ?? 0);
  items.push(
    senders < maxSenders
      ? pass('postgres.wal_senders', side, 'a WAL sender is available', `${senders} of max_wal_senders = ${maxSenders} in use`)
      : fail('postgres.wal_senders', side, 'no free WAL sender', `${senders} of max_wal_senders = ${maxSenders} in use`, `ALTER SYSTEM SET max_wal_senders = ${maxSenders + 2}; then restart PostgreSQL`),
  );

  items.push(
    role.superuser || role.replication
      ? pass('postgres.replication_role', side, 'the user may stream changes', `${role.user} has ${role.superuser ? 'SUPERUSER' : 'REPLICATION'}`)
      : fail('postgres.replication_role', side, 'the user lacks the REPLICATION attribute', `${role.user} is neither REPLICATION nor SUPERUSER`, `ALTER ROLE ${q(role.user)} WITH REPLICATION;`),
  );

  const publication = publicationName(ctx.migration);
  const pubExists = (await client.query(`select 1 from pg_publication where pubname = $1`, [publication])).rowCount === 1;
  if (pubExists) {
    items.push(pass('postgres.publication', side, 'the publication exists', `publication ${publication} exists`));
  } else {
    const canCreate = (await client.query<{ ok: boolean }>(`select has_database_privilege(current_database(), 'CREATE') as ok`)).rows[0]?.ok ?? false;
    const notOwned: string[] = [];
    for (const t of tables.values()) {
      const owned = (await client.query<{ ok: boolean }>(`select pg_has_role(current_user, $1, 'USAGE') as ok`, [t.owner])).rows[0]?.ok ?? false;
      if (!owned) notOwned.push(t.name);
    }
    const createSql = `CREATE PUBLICATION ${q(publication)} FOR TABLE ${[...tables.keys()].map(q).join(', ') || '…'};`;
    if (role.superuser || (canCreate && notOwned.length === 0)) {
      items.push(pass('postgres.publication', side, 'the user may create the publication', `${role.user} can create publication ${publication}`));
    } else {
      const why = !canCreate ? `${role.user} lacks CREATE on the database` : `${role.user} does not own ${notOwned.join(', ')}`;
      items.push(
        fail('postgres.publication', side, 'the user cannot create the publication', why,
          `as the tables' owner or a superuser run: ${createSql} (or GRANT CREATE ON DATABASE ${q((await client.query<{ d: string }>('select current_database() as d')).rows[0]?.d ?? '')} TO ${q(role.user)} and make it the tables' owner)`),
      );
    }
  }

  const unreadable: string[] = [];
  for (const t of tables.keys()) {
    const ok = (await client.query<{ ok: boolean }>(`select has_table_privilege(format('%I', $1::text), 'SELECT') as ok`, [t])).rows[0]?.ok;
    if (!ok) unreadable.push(t);
  }
  items.push(
    unreadable.length === 0
      ? pass('postgres.select', side, 'the user may read every table', `SELECT on ${tables.size} table(s)`)
      : fail('postgres.select', side, 'the user cannot read some tables', `no SELECT on ${unreadable.join(', ')}`, `GRANT SELECT ON ${unreadable.map(q).join(', ')} TO ${q(role.user)};`),
  );

  for (const t of tables.values()) {
    if (t.primaryKey.length === 0) {
      items.push(
        fail(`postgres.primary_key`, side, `table ${t.name} has no primary key`,
          `${t.name} has no primary key and no replica-identity index, so a change cannot name the row it changes`,
          `ALTER TABLE ${q(t.name)} ADD PRIMARY KEY (…); or exclude it in tandem.yaml: exclude: [${t.name}]`),
      );
    }
    if (t.toastableColumns.length > 0 && t.replicaIdentity !== 'f') {
      items.push(
        warn('postgres.toast', side, `table ${t.name} may send unchanged TOAST values`,
          `columns ${t.toastableColumns.join(', ')} can be stored out of line; an UPDATE that leaves them unchanged does not carry their value, so Tandem reads it from the shadow row`,
          `nothing is required; to carry every value in the stream instead: ALTER TABLE ${q(t.name)} REPLICA IDENTITY FULL;`),
      );
    }
  }
  return items;
}

/** Prerequisites for applying changes to this side while it is the shadow. */
export async function checkPgApply(client: pg.Client, ctx: CheckContext, tables: Map<string, PgTableInfo>): Promise<CheckItem[]> {
  const side = ctx.side;
  const items: CheckItem[] = [];
  const role = await roleInfo(client);
  const missing: string[] = [];
  for (const t of tables.keys()) {
    const { rows } = await client.query<{ ok: boolean }>(
      // has_table_privilege with a list answers "any of"; each privilege is needed, so each is asked.
      `select has_table_privilege(format('%I', $1::text), 'INSERT') and has_table_privilege(format('%I', $1::text), 'UPDATE') and has_table_privilege(format('%I', $1::text), 'DELETE') and has_table_privilege(format('%I', $1::text), 'TRUNCATE') as ok`,
      [t],
    );
    if (!rows[0]?.ok) missing.push(t);
  }
  items.push(
    missing.length === 0
      ? pass('postgres.write', side, 'the user may write every table', `INSERT, UPDATE, DELETE, TRUNCATE on ${tables.size} table(s)`)
      : fail('postgres.write', side, 'the user cannot write some tables', `missing INSERT/UPDATE/DELETE/TRUNCATE on ${missing.join(', ')}`,
          `GRANT INSERT, UPDATE, DELETE, TRUNCATE ON ${missing.map(q).join(', ')} TO ${q(role.user)};`),
  );

  // Apply sets session_replication_role = replica so shadow triggers and foreign keys stay quiet.
  const srr = role.superuser || ((await client.query<{ ok: boolean }>(`select has_parameter_privilege('session_replication_role', 'SET') as ok`)).rows[0]?.ok ?? false);
  items.push(
    srr
      ? pass('postgres.session_replication_role', side, 'apply can silence triggers and foreign keys', `${role.user} may SET session_replication_role`)
      : fail('postgres.session_replication_role', side, 'apply cannot silence triggers and foreign keys',
          `${role.user} may not SET session_replication_role, so shadow triggers and foreign-key checks would fire on replicated rows`,
          `GRANT SET ON PARAMETER session_replication_role TO ${q(role.user)};`),
  );

  const db = (await client.query<{ d: string; ok: boolean; schema_ok: boolean | null }>(
    `select current_database() as d, has_database_privilege(current_database(), 'CREATE') as ok,
            (select has_schema_privilege(n.oid, 'CREATE') from pg_namespace n where n.nspname = 'tandem') as schema_ok`,
  )).rows[0];
  items.push(
    role.superuser || db?.ok || db?.schema_ok
      ? pass('postgres.state_schema', side, 'Tandem can keep its checkpoint here', `schema "tandem" ${db?.schema_ok ? 'is writable' : 'can be created'}`)
      : fail('postgres.state_schema', side, 'Tandem cannot create its checkpoint schema', `${role.user} lacks CREATE on database ${db?.d}`,
          `CREATE SCHEMA tandem AUTHORIZATION ${q(role.user)}; (or GRANT CREATE ON DATABASE ${q(db?.d ?? '')} TO ${q(role.user)};)`),
  );

  const names = [...tables.keys()];
  if (names.length > 0) {
    const triggers = await client.query<{ relname: string; tgname: string; tgenabled: string }>(
      `select c.relname, t.tgname, t.tgenabled from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = current_schema() and c.relname = any($1) and not t.tgisinternal and t.tgenabled in ('A', 'R')
        order by 1, 2`,
      [names],
    );
    for (const t of triggers.rows) {
      items.push(
        warn('postgres.trigger_fires_on_apply', side, `trigger ${t.tgname} on ${t.relname} fires during apply`,
          `it is ENABLE ${t.tgenabled === 'A' ? 'ALWAYS' : 'REPLICA'}, so it runs even with session_replication_role = replica`,
          `ALTER TABLE ${q(t.relname)} ENABLE TRIGGER ${q(t.tgname)}; (fires only for application writes) unless it must run for replicated rows`),
      );
    }
  }
  return items;
}
