// Test support for the simulator: SOAP envelopes written by hand, raw HTTP calls.
import type { SeqrSimulator } from '../../simulator/index.js';
import { child, childText, parseXml, type XmlElement } from '../../simulator/xml.js';

export const NS = 'http://external.interfaces.ers.seamless.com/';

export function envelope(op: string, inner: string): string {
  return (
    `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ext="${NS}">` +
    `<soapenv:Header/><soapenv:Body><ext:${op}>${inner}</ext:${op}></soapenv:Body></soapenv:Envelope>`
  );
}

export interface Creds {
  id: string;
  password: string;
  type?: 'TERMINALID' | 'RESELLERUSER';
  userId?: string;
}

export function context(c: Creds): string {
  return (
    `<context><channel>WS</channel><clientId>test</clientId><clientRequestTimeout>0</clientRequestTimeout>` +
    `<initiatorPrincipalId><id>${c.id}</id><type>${c.type ?? 'TERMINALID'}</type>` +
    (c.userId === undefined ? '' : `<userId>${c.userId}</userId>`) +
    `</initiatorPrincipalId><password>${c.password}</password></context>`
  );
}

export function invoiceXml(value: string, extra = '', currency = 'SEK'): string {
  return (
    `<invoice><paymentMode>IMMEDIATE_DEBIT</paymentMode><acknowledgmentMode>NO_ACKNOWLEDGMENT</acknowledgmentMode>` +
    `<title>Vending</title><clientInvoiceId>tx-1</clientInvoiceId>` +
    `<totalAmount><currency>${currency}</currency><value>${value}</value></totalAmount>` +
    `<cashierId>slot-1</cashierId>${extra}</invoice>`
  );
}

export interface SoapAnswer {
  status: number;
  text: string;
  /** The `return` element, when the answer is a well-formed SEQR response. */
  ret: XmlElement | undefined;
  code: number | undefined;
}

export async function postRaw(sim: SeqrSimulator, body: string): Promise<SoapAnswer> {
  const res = await fetch(sim.soapUrl, {
    method: 'POST',
    headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '""' },
    body,
  });
  const text = await res.text();
  let ret: XmlElement | undefined;
  try {
    const body = child(parseXml(text), 'Body');
    ret = child(body?.children[0], 'return');
  } catch {
    ret = undefined;
  }
  const code = childText(ret, 'resultCode');
  return { status: res.status, text, ret, code: code === undefined ? undefined : Number(code) };
}

export function call(
  sim: SeqrSimulator,
  op: string,
  inner: string,
  creds?: Creds,
): Promise<SoapAnswer> {
  return postRaw(sim, envelope(op, context(creds ?? sim.terminal) + inner));
}

export function reseller(sim: SeqrSimulator): Creds {
  return { ...sim.reseller, type: 'RESELLERUSER' };
}

/** sendInvoice for the simulator's terminal; returns the invoice reference. */
export async function issue(
  sim: SeqrSimulator,
  value = '25.00',
  extra = '',
  creds?: Creds,
): Promise<string> {
  const answer = await call(sim, 'sendInvoice', invoiceXml(value, extra), creds);
  const ref = childText(answer.ret, 'invoiceReference');
  if (answer.code !== 0 || ref === undefined) throw new Error(`sendInvoice failed: ${answer.text}`);
  return ref;
}

export async function poll(
  sim: SeqrSimulator,
  ref: string,
  version = 0,
  creds?: Creds,
): Promise<SoapAnswer> {
  return call(
    sim,
    'getPaymentStatus',
    `<invoiceReference>${ref}</invoiceReference><invoiceVersion>${version}</invoiceVersion>`,
    creds,
  );
}
