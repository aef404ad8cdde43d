const lib = require('./lib');
const who = lib.input('who');
if (!who) { console.log('::error::input `who` is required'); process.exit(1); }
const message = `${lib.input('greeting')}, ${who}!`;
console.log(`main: ${message} (repository ${lib.input('repository')}, action ${process.env.GITHUB_ACTION_REPOSITORY}@${process.env.GITHUB_ACTION_REF})`);
console.log(`main: state from pre = ${process.env.STATE_started}`);
console.log(`main: action path ends ${process.env.GITHUB_ACTION_PATH.split('/').slice(-1)[0] === process.env.GITHUB_ACTION_PATH.split('/').slice(-1)[0] ? 'ok' : 'no'}`);
console.log(`main: secret in env = ${process.env.SUPER_SECRET === undefined ? 'absent' : 'PRESENT'}`);
lib.setOutput('message', message);
lib.saveState('greeted', who);
lib.exportVariable('GREETED', who);
if (lib.input('fail') === 'true') { process.exit(3); }
