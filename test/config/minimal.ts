/** The smallest valid configuration: demo mode, one product. Tests append the sections they need. */
export const MINIMAL_CONFIG = `mode: demo
machine:
  name: Test
merchant:
  name: Shop
products:
  - slot: 1
    name: Cola
    price: "25.00"
    buttonPin: 5
    relayPin: 17
buttons:
  cancelPin: 26
`;
