import pg from 'pg';
import { fail, pass, warn, type CheckItem } from '../shared/checks.js';
import type { CheckContext } from '../engine.js';
import { publicationName, slotName } from '../../model/names.js';
import type { PgTableInfo } from './introspect.js';
import { uncarriedColumns, uncarriedColumnsProblem } from '../../model/column-names.js';

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

  const slot = slotName(ctx.migration, side);
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
    // Tables the publication lacks join it when Tandem adds them, which needs their owner (or a superuser).
    const published = new Set(
      (await client.query<{ t: string }>(`select tablename as t from pg_publication_tables where pubname = $1 and schemaname = current_schema()`, [publication])).rows.map((r) => r.t),
    );
    const blocked: string[] = [];
    for (const t of tables.values()) {
      if (published.has(t.name) || role.superuser) continue;
      const owned = (await client.query<{ ok: boolean }>(`select pg_has_role(current_user, $1, 'USAGE') as ok`, [t.owner])).rows[0]?.ok ?? false;
      if (!owned) blocked.push(t.name);
    }
    if (blocked.length) {
      items.push(
        fail('postgres.publication_tables', side, `Tandem cannot add ${blocked.length} table(s) to its publication`, `${blocked.join(', ')} ${blocked.length > 1 ? 'are' : 'is'} not in publication ${publication} and ${role.user} does not own ${blocked.length > 1 ? 'them' : 'it'}, so ${blocked.length > 1 ? 'their' : 'its'} changes would not be captured`,
          `as the tables' owner or a superuser run: ${blocked.map((t) => `ALTER PUBLICATION ${q(publication)} ADD TABLE ${q(t)};`).join(' ')}`),
      );
    }
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
    const uncarried = uncarriedColumns(t.columns);
    if (uncarried.length > 0) {
      const { reason, fix } = uncarriedColumnsProblem(t.name, uncarried, q);
      items.push(fail('postgres.column_name', side, `table ${t.name} has a column Tandem cannot carry`, reason, fix));
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

/**
 * Fencing (docs/fencing.md): either side is fenced at some point of a migration, so both must allow it. Tandem puts
 * a fence up with CREATE TRIGGER (the TRIGGER privilege) and enables and disables it with ALTER TABLE (the tables'
 * owner): with TRIGGER alone a fence could go up and never come down. Roles that can write through the fence, and
 * whether Tandem can end application sessions that hold a fence off, are warnings.
 */
export async function checkPgFence(client: pg.Client, ctx: CheckContext, tables: Map<string, PgTableInfo>): Promise<CheckItem[]> {
  const side = ctx.side;
  const items: CheckItem[] = [];
  const role = await roleInfo(client);
  const names = [...tables.keys()];

  if (names.length > 0) {
    // Every table and every partition below it carries a trigger.
    const rels = await client.query<{ rel: string; owner: string; owned: boolean; trigger: boolean }>(
      `with recursive rels(oid) as (
         select c.oid from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = current_schema() and c.relname = any($1)
         union all select i.inhrelid from pg_inherits i join rels on i.inhparent = rels.oid)
       select c.relname as rel, pg_get_userbyid(c.relowner) as owner, pg_has_role(current_user, c.relowner, 'USAGE') as owned,
              has_table_privilege(c.oid, 'TRIGGER') as trigger
         from rels join pg_class c on c.oid = rels.oid order by 1`,
      [names],
    );
    const blocked = role.superuser ? [] : rels.rows.filter((r) => !r.owned || !r.trigger);
    if (blocked.length === 0) {
      items.push(pass('postgres.fence', side, 'Tandem can fence this side', `${role.user} ${role.superuser ? 'is a superuser' : `owns ${rels.rows.length} table(s) and partition(s) (or is a member of their owner's role)`}: it can put its triggers up and take them down`));
    } else {
      const owners = [...new Set(blocked.map((r) => r.owner))];
      const triggerOnly = blocked.filter((r) => r.trigger && !r.owned).map((r) => r.rel);
      const list = blocked.map((r) => `${r.rel} (owner ${r.owner})`).join(', ');
      items.push(
        fail('postgres.fence', side, `Tandem cannot fence ${blocked.length} table(s)`,
          `${role.user} does not own ${list}${triggerOnly.length ? `; the TRIGGER privilege on ${triggerOnly.join(', ')} would put a fence up that it could not take down (ALTER TABLE ... DISABLE TRIGGER needs the owner)` : ''}, so the switch could not stop application writes there`,
          `${owners.map((o) => `GRANT ${q(o)} TO ${q(role.user)};`).join(' ')} (membership of the owner's role), or ${blocked.map((r) => `ALTER TABLE ${q(r.rel)} OWNER TO ${q(role.user)};`).join(' ')}`),
      );
    }
  }

  // Who writes through the fence: superusers (they may SET session_replication_role = replica, which silences the
  // triggers, and may drop them), and roles granted SET on that parameter (PostgreSQL 15 and later).
  const superRows = (await client.query<{ r: string; bootstrap: boolean }>(`select rolname as r, oid = 10 as bootstrap from pg_roles where rolsuper and rolname <> current_user order by 1`)).rows;
  const supers = superRows.map((r) => r.r);
  const hasParamAcl = (await client.query<{ ok: boolean }>(`select to_regclass('pg_catalog.pg_parameter_acl') is not null as ok`)).rows[0]?.ok ?? false;
  const setters = hasParamAcl
    ? (
        await client.query<{ r: string }>(
          `select distinct case when a.grantee = 0 then 'PUBLIC' else pg_get_userbyid(a.grantee) end as r
             from pg_parameter_acl p cross join lateral aclexplode(p.paracl) a
            where p.parname = 'session_replication_role' and a.privilege_type = 'SET' and a.grantee <> (select oid from pg_roles where rolname = current_user)
            order by 1`,
        )
      ).rows.map((r) => r.r)
    : [];
  if (supers.length === 0 && setters.length === 0) {
    items.push(pass('postgres.fence_bypass', side, 'only Tandem writes through the fence', `no other superuser, and no other role may SET session_replication_role`));
  } else {
    const who = [...supers.map((r) => `${r} (superuser)`), ...setters.map((r) => `${r} (SET on session_replication_role)`)];
    // The bootstrap superuser cannot lose SUPERUSER: keeping the application off it is the only remedy.
    const fixes = [...superRows.filter((r) => !r.bootstrap).map((r) => `ALTER ROLE ${q(r.r)} NOSUPERUSER;`), ...setters.map((r) => `REVOKE SET ON PARAMETER session_replication_role FROM ${r === 'PUBLIC' ? 'PUBLIC' : q(r)};`)];
    items.push(
      warn('postgres.fence_bypass', side, `${who.length} role(s) can write through the fence`,
        `${who.join(', ')}: with session_replication_role = replica the fence's triggers do not fire for them, so a session of theirs can write to a fenced side`,
        `never let the application connect as these roles${fixes.length ? `, or: ${fixes.join(' ')}` : ''}`),
    );
  }

  // Past the timeout, the fence ends application sessions that hold write locks (pg_terminate_backend).
  const signal = role.superuser || ((await client.query<{ ok: boolean }>(`select pg_has_role(current_user, 'pg_signal_backend', 'USAGE') as ok`)).rows[0]?.ok ?? false);
  items.push(
    signal
      ? pass('postgres.fence_end_sessions', side, 'Tandem can end transactions that hold a fence off', `${role.user} ${role.superuser ? 'is a superuser' : 'is a member of pg_signal_backend'}`)
      : warn('postgres.fence_end_sessions', side, 'Tandem cannot end transactions that hold a fence off',
          `${role.user} may not end other roles' sessions, so an application transaction holding a write lock past the fence's timeout makes the fence (and the switch) fail`,
          `GRANT pg_signal_backend TO ${q(role.user)};`),
  );
  return items;
}
