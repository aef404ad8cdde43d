const lib = require('./lib');
console.log(`pre: node ${process.versions.node.split('.')[0]} in ${process.cwd() === process.env.GITHUB_WORKSPACE ? 'the workspace' : process.cwd()}`);
lib.saveState('started', 'pre-was-here');
