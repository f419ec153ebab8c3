/**
 * The Kafka transport's integration tests share one broker and one Connect worker, and some of them kill both on
 * purpose: they run in this one file, one after the other, so a restart in one never lands in the middle of another.
 */
import './kafka-postgres.cases.js';
import './kafka-mariadb.cases.js';
import './kafka-switch.cases.js';
import './kafka-keyed.cases.js';
