// The file commands of @actions/core, written by hand (no npm here).
const fs = require('fs');
const os = require('os');
exports.input = (name) => (process.env['INPUT_' + name.replace(/ /g, '_').toUpperCase()] || '').trim();
function fileCommand(variable, key, value) {
  const delimiter = 'ghadelimiter_' + Math.random().toString(36).slice(2);
  fs.appendFileSync(process.env[variable], `${key}<<${delimiter}${os.EOL}${value}${os.EOL}${delimiter}${os.EOL}`);
}
exports.setOutput = (k, v) => fileCommand('GITHUB_OUTPUT', k, v);
exports.saveState = (k, v) => fileCommand('GITHUB_STATE', k, v);
exports.exportVariable = (k, v) => fileCommand('GITHUB_ENV', k, v);
