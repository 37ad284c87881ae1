module.exports = require('./temp-dir-check').setup;
