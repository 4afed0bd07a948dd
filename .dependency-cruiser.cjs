/**
 * The layering of src/, checked on every `npm test` (and so in CI): a request walks
 * http → tenancy → auth → interactions → store and back; the modules below interactions
 * (fhir, store, search, policy) know nothing of HTTP; server.ts composes the plugins and the CLI
 * drives everything, so nothing reaches up into either. See README "Layout".
 */
const BELOW_INTERACTIONS = '^src/(fhir|store|search|policy)/';
/** SQL on FHIR's row engine: pure functions over JSON, usable by the validator of ViewDefinition writes. */
const VIEW_ENGINE = '^src/views/(runner|definition|fhirpath|fhirpath-native|functions|members)[.]ts$';
/** Money removal for partners: a pure JSON transform, rendered by the store when financial resources are written. */
const BASIS = '^src/policy/basis[.]ts$';

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'No import cycles.', from: {}, to: { circular: true, viaOnly: { dependencyTypesNot: ['dynamic-import'] } } },
    { name: 'no-test-or-bench-in-src', severity: 'error', comment: 'Production code never imports tests or benchmarks.', from: { path: '^src/' }, to: { path: '^(test|bench|conformance)/' } },
    { name: 'cli-is-a-root', severity: 'error', comment: 'The CLI drives the modules; none of them reaches up into it.', from: { path: '^src/', pathNot: '^src/cli/' }, to: { path: '^src/cli/' } },
    { name: 'server-is-a-root', severity: 'error', comment: 'server.ts composes the plugins; only the CLI starts it.', from: { path: '^src/', pathNot: '^src/(cli/|server[.]ts$)' }, to: { path: '^src/server[.]ts$' } },
    { name: 'no-http-below-interactions', severity: 'error', comment: 'Below interactions, modules throw typed errors and know nothing of HTTP or Fastify.', from: { path: BELOW_INTERACTIONS }, to: { path: ['^src/(http|tenancy|auth|admin|portal|limits|metrics)/', '^node_modules/(fastify|@fastify)/'] } },
    { name: 'store-is-the-bottom', severity: 'error', comment: 'The store persists resources; it needs the FHIR model and errors, nothing above (and the pure Basis rendering it stores beside financial resources).', from: { path: '^src/store/' }, to: { path: '^src/', pathNot: ['^src/(store|fhir)/', '^src/(errors|config)[.]ts$', VIEW_ENGINE, BASIS] } },
    { name: 'basis-is-pure', severity: 'error', comment: 'Money removal (CARIN BB Basis) is a JSON transform the store calls on write: it imports nothing of the server.', from: { path: BASIS }, to: { path: '^src/' } },
    { name: 'fhir-is-the-model', severity: 'error', comment: 'The R4 model and validation sit under everything (the ViewDefinition rules come from the pure view engine).', from: { path: '^src/fhir/' }, to: { path: '^src/', pathNot: ['^src/fhir/', '^src/(errors|config)[.]ts$', VIEW_ENGINE] } },
    { name: 'view-engine-is-pure', severity: 'error', comment: 'The view engine reads nothing and serves nothing: JSON in, rows out (it knows the R4 type names).', from: { path: VIEW_ENGINE }, to: { path: '^src/', pathNot: [VIEW_ENGINE, '^src/errors[.]ts$', '^src/fhir/schema[.]ts$'] } },
    { name: 'search-and-policy-below-interactions', severity: 'error', comment: 'Search plans and the partner-policy condition are SQL; the interactions, exports, views and operations use them, not the other way round.', from: { path: '^src/(search|policy)/' }, to: { path: '^src/(interactions|bulk|views|operations|audit|import|seed|client)/' } },
    { name: 'interactions-below-capabilities', severity: 'error', comment: 'REST interactions do not know the exports, views, operations or admin built on them.', from: { path: '^src/interactions/' }, to: { path: '^src/(bulk|views|operations|admin|portal|import|seed)/' } },
    { name: 'bulk-client-is-remote', severity: 'error', comment: "The Bulk Data client talks HTTP to a server; it never touches the server's database or internals.", from: { path: '^src/client/' }, to: { path: '^src/', pathNot: ['^src/client/', '^src/auth/(client-assertion|client-credentials|signing-keys)[.]ts$', '^src/errors[.]ts$'] } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
