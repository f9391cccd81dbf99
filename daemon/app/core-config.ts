import type { Config } from '../../config/schema.js';
import {
  DEFAULT_TIMINGS,
  DEFAULT_UPS_TIMINGS,
  type CoreConfig,
  type ProductConfig as CoreProduct,
} from '../core/config.js';
import { parseDecimal } from '../ports/money.js';

/** The machine id of demo mode's in-process gateway (built-in SEQR, no broker). */
export const DEMO_MACHINE_ID = 'demo';

/** A machine's static UPS code: what the payer scans (API.md §10). */
export function upsCode(merchantId: string, machineId: string): string {
  return `HTTP://SEQR.SE/000/ups?w=${merchantId}&t=${machineId}`;
}

/** The UPS code the configuration gives this machine; undefined outside UPS mode. */
export function configuredUpsCode(config: Config): string | undefined {
  if (!config.ups) return undefined;
  return upsCode(config.ups.merchantId, config.fleet?.machineId ?? DEMO_MACHINE_ID);
}

/**
 * The core's view of the configuration. `maintenance` is the operator's switch as stored
 * (config/overlay.ts); `localGateway` is demo mode's gateway in this process.
 */
export function coreConfig(
  config: Config,
  terminalId: string,
  maintenance = false,
  localGateway?: { readonly url: string; readonly machineId: string },
): CoreConfig {
  const t = config.timeouts;
  return {
    ...DEFAULT_TIMINGS,
    products: coreProducts(config, config.products),
    maintenance,
    machineName: config.machine.name,
    merchant: {
      name: config.merchant.name,
      ...(config.merchant.address === '' ? {} : { address: config.merchant.address.split('\n') }),
      terminalId,
    },
    paymentWindowMs: t.paymentWindowMs,
    stillPayingWindowMs: t.stillPayingWindowMs,
    pollIntervalMs: t.pollIntervalMs,
    thankYouMs: t.thankYouMs,
    messageMs: t.outcomeMs,
    maxCustomerAgeMs: config.recovery.maxCustomerAgeMs,
    onInterruptedDispense: config.dispense.onInterrupted,
    dispenseDeadlineMs: Math.max(t.dispenseTimeoutMs, maxDispenseMs(config) + 1_000),
    outOfServiceBackoffMaxMs: t.outOfServiceRetryMs,
    outOfServiceBackoffMinMs: Math.min(
      DEFAULT_TIMINGS.outOfServiceBackoffMinMs,
      t.outOfServiceRetryMs,
    ),
    ...callbacks(config, localGateway),
  };
}

/**
 * The notificationUrl and UPS mode: both need the gateway and the machine id it routes by (the
 * configured ones, or demo mode's gateway in this process).
 */
function callbacks(
  config: Config,
  local: { readonly url: string; readonly machineId: string } | undefined,
): Pick<CoreConfig, 'notificationUrl' | 'ups'> {
  const machineId = local?.machineId ?? config.fleet?.machineId;
  const gatewayUrl = local?.url ?? config.gateway?.url;
  if (gatewayUrl === undefined || machineId === undefined) return {};
  const notificationUrl = `${gatewayUrl}/notify/${machineId}`;
  const { ups } = config;
  if (!ups) return { notificationUrl };
  return {
    notificationUrl,
    ups: {
      ...DEFAULT_UPS_TIMINGS,
      confirmWindowMs: ups.confirmWindowMs,
      idleTimeoutMs: ups.idleTimeoutMs,
      sessionMaxMs: ups.sessionMaxMs,
      commitTimeoutMs: ups.commitTimeoutMs,
      code: upsCode(ups.merchantId, machineId),
      maxCredit: { minor: parseDecimal(ups.maxCredit) ?? 0, currency: config.currency },
    },
  };
}

/** The longest a dispense can take: its pulse, or the drop window when one is longer. */
function maxDispenseMs(config: Config): number {
  return Math.max(...config.products.map((p) => Math.max(p.pulseMs, p.dropSensor?.windowMs ?? 0)));
}

/**
 * The catalogue as the core sells it. A disabled product stays listed (shown unavailable, its
 * button ignored) so that enabling it again is a catalogue change like any other.
 */
export function coreProducts(
  config: Pick<Config, 'currency' | 'merchant'>,
  products: readonly Config['products'][number][],
): CoreProduct[] {
  return products.map((p) => ({
    slot: p.slot,
    buttonLabel: String(p.slot),
    name: p.name,
    price: { minor: p.priceMinor, currency: config.currency },
    taxRatePercent: config.merchant.vatBasisPoints / 100,
    enabled: p.enabled,
  }));
}
