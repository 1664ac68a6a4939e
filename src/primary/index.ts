/** The primary service client: public surface of src/primary. */
export * from './api.js';
export { PrimaryClient, PRIMARY_CLIENT_DEFAULTS, type PrimaryClientOptions } from './client.js';
export { parseEndpoint, type Endpoint } from './endpoint.js';
export { Credentials, CredentialWatcher, loadCredentials, loadCaCertificates, type CredentialPaths } from './credentials.js';
export { nodeSubjectToSlash } from './dn.js';
export { RevocationSet, type RevocationCode, type RevocationFailure } from './revocation.js';
export { clientTlsOptions, PeerRevocationError, type ClientTrustOptions } from './tls-trust.js';
export { toJpError } from './net-errors.js';
export * from './soap.js';
export type { GenericFault, SoapFault } from './soap-xml.js';
