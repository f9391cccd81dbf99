// The project's WSDL against the reference WSDLs in ../shared: same operations, wrappers, child
// elements, types and sequence order for the 13 merchant operations, with exactly the documented
// interface 2.9+/2.10+ additions (API.md §3.4).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { childrenNamed, parseXml, resolveQName, walk, type XmlNode } from './xml-tree.js';

const XS = 'http://www.w3.org/2001/XMLSchema';
const WSDL = 'http://schemas.xmlsoap.org/wsdl/';
const SOAP_BINDING = 'http://schemas.xmlsoap.org/wsdl/soap/';
const TNS = 'http://external.interfaces.ers.seamless.com/';

const MERCHANT_OPERATIONS = [
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
];

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const shared = fileURLToPath(new URL('../../../shared/seqr/reference-wsdl/', import.meta.url));
const haveShared = existsSync(shared);
const REFERENCES = {
  'jacob22-accounting (live capture)': `${shared}jacob22-accounting/seqr_v2wsdl=ERSWSExternalClientService.wsdl`,
  'seqr-cashregister-sample': `${shared}seqr-cashregister-sample/ERSWSExternalClientService.wsdl`,
};

interface ElementDecl {
  name: string;
  type?: string;
  minOccurs: string;
  maxOccurs: string;
  inline?: TypeModel;
}
interface TypeModel {
  base?: string;
  sequence: ElementDecl[];
}
interface SchemaModel {
  elements: Map<string, string>;
  complexTypes: Map<string, TypeModel>;
  enumerations: Map<string, string[]>;
  /** operation -> [input element, output element] */
  operations: Map<string, [string, string]>;
  /** operation -> soapAction/style/use, when the document has a binding */
  binding: Map<string, string>;
}

/** `xs:string` for XML Schema types, the bare local name for the service's own types. */
function typeName(node: XmlNode, value: string): string {
  const q = resolveQName(node, value);
  if (q.ns === XS) return `xs:${q.local}`;
  expect(q.ns, `type ${value}`).toBe(TNS);
  return q.local;
}

function elementDecl(node: XmlNode): ElementDecl {
  const decl: ElementDecl = {
    name: node.attrs['name']!,
    minOccurs: node.attrs['minOccurs'] ?? '1',
    maxOccurs: node.attrs['maxOccurs'] ?? '1',
  };
  const type = node.attrs['type'];
  if (type !== undefined) decl.type = typeName(node, type);
  const inline = childrenNamed(node, XS, 'complexType')[0];
  if (inline) decl.inline = complexType(inline);
  return decl;
}

function sequenceOf(node: XmlNode): ElementDecl[] {
  const seq = childrenNamed(node, XS, 'sequence')[0];
  return seq ? childrenNamed(seq, XS, 'element').map(elementDecl) : [];
}

function complexType(node: XmlNode): TypeModel {
  const ext = childrenNamed(node, XS, 'complexContent')
    .flatMap((c) => childrenNamed(c, XS, 'extension'))
    .at(0);
  if (ext) return { base: typeName(ext, ext.attrs['base']!), sequence: sequenceOf(ext) };
  return { sequence: sequenceOf(node) };
}

function model(file: string): SchemaModel {
  const root = parseXml(readFileSync(file, 'utf8'));
  const m: SchemaModel = {
    elements: new Map(),
    complexTypes: new Map(),
    enumerations: new Map(),
    operations: new Map(),
    binding: new Map(),
  };
  for (const schema of walk(root).filter((n) => n.ns === XS && n.local === 'schema')) {
    expect(schema.attrs['targetNamespace']).toBe(TNS);
    expect(schema.attrs['elementFormDefault'] ?? 'unqualified').toBe('unqualified');
    for (const el of childrenNamed(schema, XS, 'element'))
      m.elements.set(el.attrs['name']!, typeName(el, el.attrs['type']!));
    for (const ct of childrenNamed(schema, XS, 'complexType'))
      m.complexTypes.set(ct.attrs['name']!, complexType(ct));
    for (const st of childrenNamed(schema, XS, 'simpleType')) {
      const values = childrenNamed(st, XS, 'restriction')
        .flatMap((r) => childrenNamed(r, XS, 'enumeration'))
        .map((e) => e.attrs['value']!);
      m.enumerations.set(st.attrs['name']!, values);
    }
  }
  const messages = new Map<string, string>();
  for (const msg of childrenNamed(root, WSDL, 'message')) {
    const parts = childrenNamed(msg, WSDL, 'part');
    expect(parts.map((p) => p.attrs['name'])).toEqual(['parameters']);
    const q = resolveQName(parts[0]!, parts[0]!.attrs['element']!);
    expect(q.ns).toBe(TNS);
    messages.set(msg.attrs['name']!, q.local);
  }
  for (const pt of childrenNamed(root, WSDL, 'portType')) {
    for (const op of childrenNamed(pt, WSDL, 'operation')) {
      const io = ['input', 'output'].map((k) => {
        const n = childrenNamed(op, WSDL, k)[0]!;
        return messages.get(resolveQName(n, n.attrs['message']!).local)!;
      });
      m.operations.set(op.attrs['name']!, [io[0]!, io[1]!]);
    }
  }
  for (const b of childrenNamed(root, WSDL, 'binding')) {
    const style = childrenNamed(b, SOAP_BINDING, 'binding')[0];
    for (const op of childrenNamed(b, WSDL, 'operation')) {
      const soapOp = childrenNamed(op, SOAP_BINDING, 'operation')[0]!;
      const uses = ['input', 'output'].map(
        (k) => childrenNamed(childrenNamed(op, WSDL, k)[0]!, SOAP_BINDING, 'body')[0]?.attrs['use'],
      );
      m.binding.set(
        op.attrs['name']!,
        [
          style?.attrs['style'],
          style?.attrs['transport'],
          `action="${soapOp.attrs['soapAction'] ?? ''}"`,
          soapOp.attrs['style'] ?? '',
          ...uses,
        ].join(' '),
      );
    }
  }
  return m;
}

/** The global elements and types the merchant operations use, with everything they reference. */
function merchantSubset(m: SchemaModel) {
  const types = new Set<string>();
  const visit = (t: string | undefined): void => {
    if (t === undefined || t.startsWith('xs:') || types.has(t)) return;
    types.add(t);
    const ct = m.complexTypes.get(t);
    if (!ct) {
      expect(m.enumerations.has(t), `type ${t} is declared`).toBe(true);
      return;
    }
    visit(ct.base);
    const visitDecls = (decls: ElementDecl[]): void => {
      for (const d of decls) {
        visit(d.type);
        if (d.inline) {
          visit(d.inline.base);
          visitDecls(d.inline.sequence);
        }
      }
    };
    visitDecls(ct.sequence);
  };
  const operations: Record<string, unknown> = {};
  for (const op of MERCHANT_OPERATIONS) {
    const io = m.operations.get(op);
    expect(io, `operation ${op}`).toBeDefined();
    operations[op] = io!.map((el) => ({ element: el, type: m.elements.get(el) }));
    for (const el of io!) visit(m.elements.get(el));
  }
  const sorted = [...types].sort();
  return {
    operations,
    complexTypes: Object.fromEntries(
      sorted.filter((t) => m.complexTypes.has(t)).map((t) => [t, m.complexTypes.get(t)]),
    ),
    enumerations: Object.fromEntries(
      sorted.filter((t) => m.enumerations.has(t)).map((t) => [t, m.enumerations.get(t)]),
    ),
  };
}

/** Applies the documented 2.9+/2.10+ additions (API.md §3.4) to a reference model. */
function withDocumentedAdditions(m: SchemaModel): SchemaModel {
  const commit = m.complexTypes.get('commitReservation')!;
  expect(commit.sequence.map((d) => d.name)).toEqual(['context', 'invoiceReference']);
  commit.sequence.splice(1, 0, { name: 'amount', type: 'amount', minOccurs: '0', maxOccurs: '1' });
  m.complexTypes.get('invoice')!.sequence.push({
    name: 'commitReservationTimeout',
    type: 'xs:long',
    minOccurs: '0',
    maxOccurs: '1',
  });
  m.enumerations.get('paymentMode')!.push('RESERVATION_REQUIRED_PRELIMINARY_AMOUNT');
  m.enumerations.get('invoiceStatus')!.push('EXPIRED');
  return m;
}

const project = () => model(`${repoRoot}daemon/seqr/cashregister.wsdl`);

describe('project WSDL', () => {
  it('declares exactly the 13 merchant operations, document/literal with SOAPAction ""', () => {
    const m = project();
    expect([...m.operations.keys()].sort()).toEqual([...MERCHANT_OPERATIONS].sort());
    for (const op of MERCHANT_OPERATIONS) {
      expect(m.operations.get(op)).toEqual([op, `${op}Response`]);
      expect(m.binding.get(op)).toBe(
        'document http://schemas.xmlsoap.org/soap/http action="" document literal literal',
      );
    }
  });
});

describe.skipIf(!haveShared)('project WSDL against the reference WSDLs', () => {
  if (!haveShared) {
    it.skip(`skipped: reference data not found at ${shared}`, () => undefined);
    return;
  }
  for (const [label, file] of Object.entries(REFERENCES)) {
    it(`matches ${label} for the merchant operations plus the documented additions`, () => {
      const reference = merchantSubset(withDocumentedAdditions(model(file)));
      expect(merchantSubset(project())).toEqual(reference);
    });
  }

  it('binds every merchant operation like the reference binding', () => {
    const ref = model(REFERENCES['seqr-cashregister-sample']);
    const live = model(`${shared}jacob22-accounting/seqr_v2wsdl`);
    const ours = project();
    for (const op of MERCHANT_OPERATIONS) {
      expect(ours.binding.get(op), op).toBe(ref.binding.get(op));
      expect(ours.binding.get(op), op).toBe(live.binding.get(op));
    }
  });
});
