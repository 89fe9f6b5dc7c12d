// Rebuilds contracts/build/contracts.json: compiles contracts/src/*.sol with solc-js (npm `solc`,
// version pinned in tools/eth/package.json) and copies the Safe v1.4.1 creation bytecode from the
// npm `@safe-global/safe-contracts` artifacts. Run through scripts/build-contracts.sh.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const modules = path.join(root, 'tools', 'eth', 'node_modules');
const solc = require(path.join(modules, 'solc'));

const srcDir = path.join(__dirname, 'src');
const files = fs.readdirSync(srcDir).filter((f) => f.endsWith('.sol')).sort();
const sources = {};
for (const f of files) sources[f] = { content: fs.readFileSync(path.join(srcDir, f), 'utf8') };

const input = {
  language: 'Solidity',
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'cancun',
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
  },
};

function findImports(p) {
  const full = path.join(modules, p);
  if (!full.startsWith(modules + path.sep) || !fs.existsSync(full)) return { error: 'not found: ' + p };
  return { contents: fs.readFileSync(full, 'utf8') };
}

const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (out.errors || []).filter((e) => e.severity === 'error');
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}

const contracts = {};
for (const f of files) {
  const name = f.replace(/\.sol$/, '');
  const c = out.contracts[f][name];
  if (!c) throw new Error('contract ' + name + ' missing from the output of ' + f);
  contracts[name] = { source: 'contracts/src/' + f, abi: c.abi, bytecode: '0x' + c.evm.bytecode.object };
}

const safePkg = path.join(modules, '@safe-global', 'safe-contracts');
const safeVersion = JSON.parse(fs.readFileSync(path.join(safePkg, 'package.json'), 'utf8')).version;
const safeArtifacts = {
  Safe: 'contracts/Safe.sol/Safe.json',
  SafeL2: 'contracts/SafeL2.sol/SafeL2.json',
  SafeProxyFactory: 'contracts/proxies/SafeProxyFactory.sol/SafeProxyFactory.json',
  SafeProxy: 'contracts/proxies/SafeProxy.sol/SafeProxy.json',
  CompatibilityFallbackHandler: 'contracts/handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json',
};
for (const [name, rel] of Object.entries(safeArtifacts)) {
  const a = JSON.parse(fs.readFileSync(path.join(safePkg, 'build', 'artifacts', rel), 'utf8'));
  contracts[name] = {
    source: 'npm @safe-global/safe-contracts@' + safeVersion + ' build/artifacts/' + rel,
    abi: a.abi,
    bytecode: a.bytecode,
  };
}

const doc = {
  compiler: 'solc-js ' + solc.version(),
  settings: input.settings,
  contracts,
};
const dest = path.join(__dirname, 'build', 'contracts.json');
fs.mkdirSync(path.dirname(dest), { recursive: true });
fs.writeFileSync(dest, JSON.stringify(doc, null, 1) + '\n');
console.error('wrote ' + path.relative(root, dest) + ': ' + Object.keys(contracts).join(', '));
