// SOAP 1.1 document/literal wrapped, the way the real server reads and writes it: children matched
// by local name in any order, unknown children ignored, missing numbers 0 (API.md §4); answers in
// schema order with null fields omitted (API.md §3.3, §5.11).
import {
  type Amount,
  type Caller,
  type InvoiceData,
  type InvoiceRowData,
  type Outcome,
  type PaidView,
  type SimulatorState,
  formatDateTime,
} from './state.js';
import { resultDescription } from './result-codes.js';
import { child, childrenNamed, childText, escapeXml, parseXml, type XmlElement } from './xml.js';

export const SEQR_NS = 'http://external.interfaces.ers.seamless.com/';
export const SOAP_ENV_NS = 'http://schemas.xmlsoap.org/soap/envelope/';

/** The 13 merchant operations of the project's WSDL. */
export const OPERATIONS = [
  'sendInvoice',
  'updateInvoice',
  'getPaymentStatus',
  'cancelInvoice',
  'commitReservation',
  'submitPaymentReceipt',
  'refundPayment',
  'registerTerminal',
  'unregisterTerminal',
  'assignSeqrId',
  'markTransactionPeriod',
  'executeReport',
  'benchmarkingNop',
] as const;
export type Operation = (typeof OPERATIONS)[number];

const OPERATION_SET: ReadonlySet<string> = new Set(OPERATIONS);

export function isOperation(name: string): name is Operation {
  return OPERATION_SET.has(name);
}

/** A request that is not a SOAP 1.1 envelope with one wrapper in the SEQR namespace. */
export class SoapRequestError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SoapRequestError';
  }
}

/** A request decoded far enough to route it: the wrapper's local name and element. */
export interface SoapRequest {
  readonly operation: string;
  readonly wrapper: XmlElement;
}

/** Throws {@link SoapRequestError} for malformed XML or a body without a SEQR wrapper. */
export function readRequest(body: string): SoapRequest {
  let root: XmlElement;
  try {
    root = parseXml(body);
  } catch (err) {
    throw new SoapRequestError(`request is not well-formed XML: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (root.local !== 'Envelope' || root.ns !== SOAP_ENV_NS)
    throw new SoapRequestError('the root element is not a SOAP 1.1 Envelope');
  const soapBody = root.children.find((c) => c.local === 'Body' && c.ns === SOAP_ENV_NS);
  if (!soapBody) throw new SoapRequestError('the Envelope has no Body');
  const wrapper = soapBody.children[0];
  if (!wrapper) throw new SoapRequestError('the Body is empty');
  if (wrapper.ns !== SEQR_NS)
    throw new SoapRequestError(
      `unknown operation {${wrapper.ns ?? ''}}${wrapper.local}: the wrapper must be in ${SEQR_NS}`,
    );
  return { operation: wrapper.local, wrapper };
}

// ---- decoding -------------------------------------------------------------------------------

function amountOf(element: XmlElement | undefined): Amount | undefined {
  if (!element) return undefined;
  return {
    currency: childText(element, 'currency') ?? '',
    value: childText(element, 'value') ?? '0',
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;
}

function rowOf(row: XmlElement): InvoiceRowData {
  return {
    ...optional('itemDescription', childText(row, 'itemDescription')),
    ...optional('itemDiscount', amountOf(child(row, 'itemDiscount'))),
    ...optional('itemEAN', childText(row, 'itemEAN')),
    ...optional('itemQuantity', childText(row, 'itemQuantity')),
    ...optional('itemSKU', childText(row, 'itemSKU')),
    ...optional('itemTaxRate', childText(row, 'itemTaxRate')),
    ...optional('itemTotalAmount', amountOf(child(row, 'itemTotalAmount'))),
    ...optional('itemUnit', childText(row, 'itemUnit')),
    ...optional('itemUnitPrice', amountOf(child(row, 'itemUnitPrice'))),
  };
}

export function invoiceOf(element: XmlElement | undefined): InvoiceData | undefined {
  if (!element) return undefined;
  const rows = child(element, 'invoiceRows');
  return {
    ...optional('paymentMode', childText(element, 'paymentMode')),
    ...optional('acknowledgmentMode', childText(element, 'acknowledgmentMode')),
    ...optional('issueDate', childText(element, 'issueDate')),
    ...optional('title', childText(element, 'title')),
    ...optional('clientInvoiceId', childText(element, 'clientInvoiceId')),
    ...optional('invoiceRows', rows ? childrenNamed(rows, 'invoiceRow').map(rowOf) : undefined),
    ...optional('totalAmount', amountOf(child(element, 'totalAmount'))),
    ...optional('cashierId', childText(element, 'cashierId')),
    ...optional('footer', childText(element, 'footer')),
    ...optional('backURL', childText(element, 'backURL')),
    ...optional('notificationUrl', childText(element, 'notificationUrl')),
    ...optional('commitReservationTimeout', childText(element, 'commitReservationTimeout')),
  };
}

function callerOf(wrapper: XmlElement): Caller {
  const context = child(wrapper, 'context');
  const principal = child(context, 'initiatorPrincipalId');
  return {
    ...optional('id', childText(principal, 'id')),
    ...optional('type', childText(principal, 'type')),
    ...optional('userId', childText(principal, 'userId')),
    // A password is compared exactly: surrounding blanks are part of it.
    ...optional('password', child(context, 'password')?.text),
  };
}

/** `parameters/parameter/entry{key,value}`; also tolerates the documented missing `parameter` level. */
function parametersOf(wrapper: XmlElement): Map<string, string> {
  const parameters = child(wrapper, 'parameters');
  const entries = [
    ...childrenNamed(child(parameters, 'parameter'), 'entry'),
    ...childrenNamed(parameters, 'entry'),
  ];
  const map = new Map<string, string>();
  for (const entry of entries) {
    const key = childText(entry, 'key');
    if (key !== undefined) map.set(key, childText(entry, 'value') ?? '');
  }
  return map;
}

// ---- encoding -------------------------------------------------------------------------------

function el(name: string, value: string | number | undefined): string {
  return value === undefined ? '' : `<${name}>${escapeXml(String(value))}</${name}>`;
}

function amountXml(name: string, amount: Amount | undefined): string {
  return amount
    ? `<${name}>${el('currency', amount.currency)}${el('value', amount.value)}</${name}>`
    : '';
}

function invoiceXml(invoice: InvoiceData): string {
  const rows = invoice.invoiceRows
    ? `<invoiceRows>${invoice.invoiceRows
        .map(
          (r) =>
            `<invoiceRow>${el('itemDescription', r.itemDescription)}${amountXml('itemDiscount', r.itemDiscount)}` +
            `${el('itemEAN', r.itemEAN)}${el('itemQuantity', r.itemQuantity)}${el('itemSKU', r.itemSKU)}` +
            `${el('itemTaxRate', r.itemTaxRate)}${amountXml('itemTotalAmount', r.itemTotalAmount)}` +
            `${el('itemUnit', r.itemUnit)}${amountXml('itemUnitPrice', r.itemUnitPrice)}</invoiceRow>`,
        )
        .join('')}</invoiceRows>`
    : '';
  return (
    `<invoice>${el('paymentMode', invoice.paymentMode)}${el('acknowledgmentMode', invoice.acknowledgmentMode)}` +
    `${el('issueDate', invoice.issueDate)}${el('title', invoice.title)}${el('clientInvoiceId', invoice.clientInvoiceId)}` +
    `${rows}${amountXml('totalAmount', invoice.totalAmount)}${el('cashierId', invoice.cashierId)}` +
    `${el('footer', invoice.footer)}${el('backURL', invoice.backURL)}${el('notificationUrl', invoice.notificationUrl)}` +
    `${el('commitReservationTimeout', invoice.commitReservationTimeout)}</invoice>`
  );
}

function receiptXml(paid: PaidView): string {
  return (
    `<receipt>${el('terminalId', paid.terminalId)}${el('paymentDate', formatDateTime(paid.paidAt))}` +
    `${el('clientInvoiceId', paid.invoice.clientInvoiceId)}${el('invoiceReference', paid.reference)}` +
    `${el('paymentReference', paid.ersReference)}${el('payerTerminalId', paid.payerTerminalId)}` +
    `${el('receiverName', paid.receiverName)}${invoiceXml(paid.invoice)}</receipt>`
  );
}

/** The `return` element's head: ersReference (when set), resultCode, resultDescription. */
function head(code: number, ersReference?: string): string {
  return `${el('ersReference', ersReference)}${el('resultCode', code)}${el('resultDescription', resultDescription(code))}`;
}

/** A complete response envelope for `operation` with `inner` as the content of `return`. */
export function responseEnvelope(operation: string, inner: string): string {
  return (
    `<soap:Envelope xmlns:soap="${SOAP_ENV_NS}"><soap:Body>` +
    `<ns2:${operation}Response xmlns:ns2="${SEQR_NS}"><return>${inner}</return></ns2:${operation}Response>` +
    `</soap:Body></soap:Envelope>`
  );
}

/** A normal envelope carrying only `code` (getPaymentStatus keeps its required elements). */
export function resultOnlyEnvelope(operation: string, code: number): string {
  const tail = operation === 'getPaymentStatus' ? '<customerTokens/><version>0</version>' : '';
  return responseEnvelope(operation, head(code) + tail);
}

/** A SOAP 1.1 Fault envelope (sent with HTTP 500). */
export function faultEnvelope(faultcode: string, faultstring: string): string {
  return (
    `<soap:Envelope xmlns:soap="${SOAP_ENV_NS}"><soap:Body><soap:Fault>` +
    `<faultcode>${escapeXml(faultcode)}</faultcode><faultstring>${escapeXml(faultstring)}</faultstring>` +
    `</soap:Fault></soap:Body></soap:Envelope>`
  );
}

// ---- dispatch -------------------------------------------------------------------------------

/** What one SOAP call did: the envelope to send and what to record about it. */
export interface Handled {
  readonly envelope: string;
  readonly resultCode: number;
  readonly terminalId?: string;
  /** The invoice a successful sendInvoice created. */
  readonly created?: string;
}

function isSuccess<T extends object>(outcome: Outcome<T>): outcome is { code: 0 } & T {
  return outcome.code === 0;
}

/**
 * Runs one decoded request against the state. Operations of the SEQR namespace that are not
 * merchant operations (ERS wallet operations, creditUser) answer 91 UNSUPPORTED_OPERATION.
 */
export function handle(state: SimulatorState, request: SoapRequest): Handled {
  const { operation, wrapper } = request;
  const answer = (code: number, inner = '', terminalId?: string): Handled => ({
    envelope: responseEnvelope(operation, head(code) + inner),
    resultCode: code,
    ...(terminalId === undefined ? {} : { terminalId }),
  });
  if (!isOperation(operation)) return answer(91);
  if (operation === 'benchmarkingNop') return answer(0);
  const caller = callerOf(wrapper);

  if (
    operation === 'registerTerminal' ||
    operation === 'markTransactionPeriod' ||
    operation === 'executeReport'
  ) {
    const auth = state.authenticateReseller(caller);
    if (!isSuccess(auth)) return answer(auth.code);
    const { reseller } = auth;
    if (operation === 'registerTerminal') {
      const out = state.registerTerminal(
        reseller,
        child(wrapper, 'password')?.text,
        childText(wrapper, 'name'),
        childText(wrapper, 'externalTerminalId'),
      );
      return isSuccess(out) ? answer(0, el('terminalId', out.terminalId)) : answer(out.code);
    }
    if (operation === 'markTransactionPeriod') {
      const out = state.markTransactionPeriod(reseller, parametersOf(wrapper));
      return isSuccess(out)
        ? answer(0, el('transactionPeriodId', out.transactionPeriodId))
        : answer(out.code);
    }
    const out = state.executeReport(
      reseller,
      childText(wrapper, 'reportId'),
      parametersOf(wrapper),
    );
    if (!isSuccess(out)) return answer(out.code);
    const { title, mimeType, contentString } = out.report;
    return answer(
      0,
      `<report>${el('title', title)}${el('mimeType', mimeType)}` +
        `${el('content', Buffer.from(contentString, 'utf8').toString('base64'))}${el('contentString', contentString)}</report>`,
    );
  }

  const auth = state.authenticateTerminal(caller);
  if (!isSuccess(auth)) {
    const tail = operation === 'getPaymentStatus' ? '<customerTokens/><version>0</version>' : '';
    return answer(auth.code, tail);
  }
  const { terminal } = auth;
  const done = (code: number, inner = ''): Handled => answer(code, inner, terminal.id);
  const ref = childText(wrapper, 'invoiceReference');
  switch (operation) {
    case 'sendInvoice': {
      const out = state.sendInvoice(terminal, invoiceOf(child(wrapper, 'invoice')));
      return isSuccess(out)
        ? {
            ...done(
              0,
              el('invoiceQRCode', `HTTP://SEQR.SE/R${out.reference}`) +
                el('invoiceReference', out.reference),
            ),
            created: out.reference,
          }
        : done(out.code);
    }
    case 'updateInvoice':
      return done(state.updateInvoice(terminal, ref, invoiceOf(child(wrapper, 'invoice'))).code);
    case 'getPaymentStatus': {
      const out = state.getPaymentStatus(terminal, ref);
      if (!isSuccess(out)) return done(out.code, '<customerTokens/><version>0</version>');
      return {
        envelope: responseEnvelope(
          operation,
          head(0, out.paid?.ersReference) +
            el('status', out.status) +
            (out.paid ? receiptXml(out.paid) : '') +
            `<customerTokens/>${el('version', out.version)}`,
        ),
        resultCode: 0,
        terminalId: terminal.id,
      };
    }
    case 'cancelInvoice':
      return done(state.cancelInvoice(terminal, ref).code);
    case 'commitReservation':
      return done(state.commitReservation(terminal, ref, amountOf(child(wrapper, 'amount'))).code);
    case 'submitPaymentReceipt':
      return done(state.submitPaymentReceipt(terminal, childText(wrapper, 'ersReference')).code);
    case 'refundPayment': {
      const out = state.refundPayment(
        terminal,
        childText(wrapper, 'ersReference'),
        invoiceOf(child(wrapper, 'invoice')),
      );
      return isSuccess(out)
        ? {
            envelope: responseEnvelope(operation, head(0, out.ersReference)),
            resultCode: 0,
            terminalId: terminal.id,
          }
        : done(out.code);
    }
    case 'unregisterTerminal':
      return done(state.unregisterTerminal(terminal).code);
    case 'assignSeqrId':
      return done(state.assignSeqrId(terminal, childText(wrapper, 'seqrId')).code);
  }
}
