declare module 'oidc-provider' {
  // No types ship with oidc-provider; the tests use its constructor and Koa's listen() only.
  const Provider: new (issuer: string, configuration: unknown) => { listen(port: number, host: string): import('node:http').Server };
  export default Provider;
}
