/**
 * The fleet's topic table (README "Fleet"). Every topic a machine uses lies under
 * `<prefix>/<machineId>/`, so one broker ACL pattern confines each machine to its own subtree.
 */

/** Operator commands a machine serves (the `<name>` level of a command topic). */
export const COMMAND_NAMES = [
  'set-product',
  'refill',
  'maintenance',
  'end-of-day',
  'refund',
  'status',
] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

/** The topics of one machine. */
export interface MachineTopics {
  /** `<prefix>/<id>`. */
  readonly base: string;
  /** Retained `online` / `offline`; `offline` is the MQTT last will. */
  readonly availability: string;
  /** Retained JSON: the live state (what `seqr-vend status` shows). */
  readonly state: string;
  /** Retained JSON: the alerts active now. */
  readonly alerts: string;
  /** Not retained, QoS 1: one message per alert raised or cleared. */
  readonly alert: string;
  /** Not retained, QoS 1: one message per finished purchase, from the ledger's outbox, in order. */
  readonly sales: string;
  /** `<base>/command/<sender>/<name>`: the sender level is the broker user (enforced by the ACL). */
  command(sender: string, name: string): string;
  /** What the machine subscribes to: every sender, every command. */
  readonly commandFilter: string;
  /** Answers go under `<base>/reply/`: the machine publishes only inside its own subtree. */
  readonly replyPrefix: string;
}

export function machineTopics(prefix: string, machineId: string): MachineTopics {
  const base = `${prefix}/${machineId}`;
  return {
    base,
    availability: `${base}/availability`,
    state: `${base}/state`,
    alerts: `${base}/alerts`,
    alert: `${base}/alert`,
    sales: `${base}/sales`,
    command: (sender, name) => `${base}/command/${sender}/${name}`,
    commandFilter: `${base}/command/+/+`,
    replyPrefix: `${base}/reply/`,
  };
}

/** Subscriptions of a consumer of the whole fleet (`seqr-vend fleet`, the collector). */
export function fleetFilters(prefix: string): {
  readonly availability: string;
  readonly state: string;
  readonly alerts: string;
  readonly sales: string;
} {
  return {
    availability: `${prefix}/+/availability`,
    state: `${prefix}/+/state`,
    alerts: `${prefix}/+/alerts`,
    sales: `${prefix}/+/sales`,
  };
}

/**
 * Splits a topic under `prefix` into the machine id and the rest (`['state']`,
 * `['command', 'alice', 'refill']`); undefined for anything else.
 */
export function parseTopic(
  prefix: string,
  topic: string,
): { machineId: string; rest: string[] } | undefined {
  if (!topic.startsWith(`${prefix}/`)) return undefined;
  const [machineId, ...rest] = topic.slice(prefix.length + 1).split('/');
  if (machineId === undefined || machineId === '' || rest.length === 0) return undefined;
  return { machineId, rest };
}

/** A topic level an id may be: what `fleet.machineId` allows, and command senders. */
export const TOPIC_LEVEL = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
