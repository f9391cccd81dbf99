// The SEQR simulator's public surface: start one, drive it as the customer's app, inject faults.
export { startSimulator, SOAP_PATH } from './server.js';
export { SimulatorControlError } from './state.js';
export { OPERATIONS } from './soap.js';
export type {
  CallRecord,
  Fault,
  FaultOptions,
  InvoiceSnapshot,
  Operation,
  SeqrSimulator,
  SimulatorControl,
  SimulatorOptions,
} from './types.js';
