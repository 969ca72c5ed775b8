"""One module per webhook source, each with a `build(endpoint) -> (route, source)`;
`kes.recv.registry` lists them."""
