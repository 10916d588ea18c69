// Running counts of one run's deliveries, kept by the delivery engines and
// read by the CLI's progress line: a race of 20,000 spends most of its time
// between "all sent" and "all answered", and a user watching a silent
// terminal cannot tell a slow receiver from a hung run. Plain counters, no
// events: the engines bump them on their hot path, the reader polls.

export interface DeliveryMeter {
  /** Deliveries released (race) or started (send). */
  sent: number;
  /** Deliveries that got an answer or failed; sent - answered are in flight. */
  answered: number;
}

export function createDeliveryMeter(): DeliveryMeter {
  return { sent: 0, answered: 0 };
}

/** "sent 20000, answered 15230, in flight 4770", or "" before the first delivery. */
export function describeDeliveryMeter(meter: DeliveryMeter): string {
  if (meter.sent === 0) return "";
  return `sent ${meter.sent}, answered ${meter.answered}, in flight ${meter.sent - meter.answered}`;
}
