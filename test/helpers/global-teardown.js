module.exports = require('./temp-dir-check').teardown;
