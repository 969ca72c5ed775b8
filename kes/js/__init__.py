"""The JavaScript semantics behind the Secret bytes KES wrote, as small pure functions.

KES ran on Node.js, so every value it stored passed through the language's own
rules: ECMAScript Number::toString (`number`), the property order of JavaScript
objects (`objects`), Node's UTF-8 encoding of strings (`text`), JSON.parse and
JSON.stringify (`json`), lodash 4.17 `get` paths (`lodash`) and js-yaml 3.14
`safeDump` (`yaml`). kes matches them here, each module one of those rules, so
that a manifest written for KES produces the same Secret.
"""
