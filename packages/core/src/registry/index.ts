export { type CreateWalOptions, createWal, WalBuilder } from './builder.js';
export { type AdapterFactory, type InterceptorFactory, Registry, registry } from './registry.js';
