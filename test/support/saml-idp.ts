import { randomBytes } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { generate } from 'selfsigned';
import { SignedXml } from 'xml-crypto';

/**
 * A SAML identity provider for tests: a locally generated RSA key and self-signed certificate, and
 * responses signed with xml-crypto exactly as an IdP signs them (enveloped signature over the assertion,
 * exclusive c14n, RSA-SHA256). Every part can be bent to build the attacks the SP must refuse.
 */
export interface ResponseOptions {
  acsUrl: string;
  audience: string;
  nameId: string;
  email?: string;
  inResponseTo?: string | null;
  notBefore?: Date;
  notOnOrAfter?: Date;
  issuer?: string;
  assertionId?: string;
  sign?: boolean;
}

const SAML_NS = 'xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"';

export interface TestIdp {
  issuer: string;
  cert: string;
  key: string;
  assertion(options: ResponseOptions): string;
  /** A full signed Response, base64 as it is posted to the ACS. */
  response(options: ResponseOptions): string;
  wrap(assertionXml: string, options: Pick<ResponseOptions, 'acsUrl' | 'inResponseTo' | 'issuer'>): string;
  sign(xml: string, assertionId: string): string;
}

export async function createIdp(issuer = 'https://idp.example.com'): Promise<TestIdp> {
  const pems = await generate([{ name: 'commonName', value: 'idp.example.com' }], { keySize: 2048, algorithm: 'sha256' });
  const idp: TestIdp = {
    issuer,
    cert: pems.cert,
    key: pems.private,
    assertion(o) {
      const now = new Date();
      const notBefore = (o.notBefore ?? new Date(now.getTime() - 60_000)).toISOString();
      const notOnOrAfter = (o.notOnOrAfter ?? new Date(now.getTime() + 5 * 60_000)).toISOString();
      const id = o.assertionId ?? `_a${randomBytes(16).toString('hex')}`;
      const inResponseTo = o.inResponseTo ? ` InResponseTo="${o.inResponseTo}"` : '';
      const xml =
        `<saml:Assertion ${SAML_NS} ID="${id}" Version="2.0" IssueInstant="${now.toISOString()}">` +
        `<saml:Issuer>${o.issuer ?? issuer}</saml:Issuer>` +
        `<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">${o.nameId}</saml:NameID>` +
        `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData${inResponseTo} NotOnOrAfter="${notOnOrAfter}" Recipient="${o.acsUrl}"/></saml:SubjectConfirmation></saml:Subject>` +
        `<saml:Conditions NotBefore="${notBefore}" NotOnOrAfter="${notOnOrAfter}"><saml:AudienceRestriction><saml:Audience>${o.audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
        `<saml:AuthnStatement AuthnInstant="${now.toISOString()}" SessionIndex="_s${randomBytes(4).toString('hex')}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
        (o.email ? `<saml:AttributeStatement><saml:Attribute Name="email"><saml:AttributeValue>${o.email}</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>` : '') +
        `</saml:Assertion>`;
      return o.sign === false ? xml : idp.sign(xml, id);
    },
    sign(xml, assertionId) {
      const sig = new SignedXml({
        privateKey: pems.private,
        publicCert: pems.cert,
        signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
        canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
      });
      sig.addReference({
        xpath: `//*[@ID='${assertionId}']`,
        transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
        digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
      });
      sig.computeSignature(xml, { location: { reference: `//*[@ID='${assertionId}']/*[local-name(.)='Issuer']`, action: 'after' } });
      return sig.getSignedXml();
    },
    wrap(assertionXml, o) {
      const inResponseTo = o.inResponseTo ? ` InResponseTo="${o.inResponseTo}"` : '';
      return (
        `<samlp:Response ${SAML_NS} ID="_r${randomBytes(16).toString('hex')}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${o.acsUrl}"${inResponseTo}>` +
        `<saml:Issuer>${o.issuer ?? issuer}</saml:Issuer>` +
        `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
        assertionXml +
        `</samlp:Response>`
      );
    },
    response(o) {
      return Buffer.from(idp.wrap(idp.assertion(o), o)).toString('base64');
    },
  };
  return idp;
}

/** The ID of the AuthnRequest in an HTTP-Redirect binding URL (what the IdP answers InResponseTo). */
export function authnRequestId(redirectUrl: string): string {
  const request = new URL(redirectUrl).searchParams.get('SAMLRequest')!;
  const xml = inflateRawSync(Buffer.from(request, 'base64')).toString('utf8');
  return /ID="([^"]+)"/.exec(xml)![1]!;
}
