console.log(`post: greeted ${process.env.STATE_greeted}, started ${process.env.STATE_started}`);
