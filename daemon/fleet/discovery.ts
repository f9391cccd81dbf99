/**
 * Home Assistant MQTT discovery, pure: the retained config messages that make one machine a
 * device with sensors (state, today's sales and amount, printer, stock per slot), a connectivity
 * binary sensor, a maintenance switch and an end-of-day button.
 */
import type { MachineTopics } from './topics.js';

export interface DiscoveryDevice {
  readonly machineId: string;
  readonly name: string;
  readonly swVersion: string;
  readonly currency: string;
  readonly slots: readonly { readonly slot: number; readonly name: string }[];
}

/** One discovery message: a retained JSON config on `topic` (an empty payload removes it). */
export interface DiscoveryMessage {
  readonly topic: string;
  readonly payload: string;
}

/** HA's birth topic: it publishes `online` there when it starts; configs are then sent again. */
export function haStatusTopic(discoveryPrefix: string): string {
  return `${discoveryPrefix}/status`;
}

export function discoveryMessages(
  discoveryPrefix: string,
  topics: MachineTopics,
  device: DiscoveryDevice,
  sender = 'homeassistant',
): DiscoveryMessage[] {
  const id = device.machineId;
  const deviceBlock = {
    identifiers: [`seqr-vend_${id}`],
    name: device.name,
    manufacturer: 'seqr-vend',
    model: 'SEQR vending machine',
    sw_version: device.swVersion,
  };
  const availability = {
    availability_topic: topics.availability,
    payload_available: 'online',
    payload_not_available: 'offline',
  };
  const entity = (
    component: string,
    objectId: string,
    config: Record<string, unknown>,
    withAvailability = true,
  ): DiscoveryMessage => ({
    topic: `${discoveryPrefix}/${component}/${id}/${objectId}/config`,
    payload: JSON.stringify({
      unique_id: `seqr-vend_${id}_${objectId}`,
      object_id: `${id}_${objectId}`,
      device: deviceBlock,
      ...(withAvailability ? availability : {}),
      ...config,
    }),
  });
  const messages = [
    entity('sensor', 'state', {
      name: 'State',
      state_topic: topics.state,
      value_template: '{{ value_json.state }}',
      json_attributes_topic: topics.state,
      json_attributes_template: '{{ {"status": value_json.status} | tojson }}',
    }),
    entity('sensor', 'sales_today', {
      name: 'Sales today',
      state_topic: topics.state,
      value_template: '{{ value_json.today.sales }}',
      state_class: 'total',
      icon: 'mdi:cart',
    }),
    entity('sensor', 'amount_today', {
      name: 'Amount today',
      state_topic: topics.state,
      value_template: '{{ (value_json.today.totalMinor / 100) | round(2) }}',
      unit_of_measurement: device.currency,
      device_class: 'monetary',
      state_class: 'total',
    }),
    entity('sensor', 'printer', {
      name: 'Printer',
      state_topic: topics.state,
      value_template: '{{ value_json.printer }}',
      icon: 'mdi:printer-pos',
    }),
    entity(
      'binary_sensor',
      'connectivity',
      {
        name: 'Connected',
        state_topic: topics.availability,
        payload_on: 'online',
        payload_off: 'offline',
        device_class: 'connectivity',
      },
      false,
    ),
    entity('switch', 'maintenance', {
      name: 'Maintenance',
      state_topic: topics.state,
      value_template: "{{ 'ON' if value_json.maintenance else 'OFF' }}",
      command_topic: topics.command(sender, 'maintenance'),
      payload_on: '{"on":true}',
      payload_off: '{"on":false}',
      state_on: 'ON',
      state_off: 'OFF',
      icon: 'mdi:wrench',
    }),
    entity('button', 'end_of_day', {
      name: 'Run end of day',
      command_topic: topics.command(sender, 'end-of-day'),
      payload_press: '{}',
      icon: 'mdi:calendar-check',
    }),
  ];
  for (const { slot, name } of device.slots)
    messages.push(
      entity('sensor', `stock_${slot}`, {
        name: `Stock slot ${slot} (${name})`,
        state_topic: topics.state,
        value_template: `{{ (value_json.slots | selectattr('slot', 'equalto', ${slot}) | first).stock }}`,
        state_class: 'measurement',
        icon: 'mdi:package-variant',
      }),
    );
  return messages;
}
