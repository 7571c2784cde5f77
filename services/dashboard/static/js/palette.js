// Colours of services and event types. The stylesheet's palette says which have their own
// (--svc-<service>, --type-<family>); any other gets a steady hue of its name.
import { cssVar } from "./dom.js";

const inPalette = new Map();

// Both themes define the same names, so the answer per name never changes.
function paletteHas(name) {
  if (!inPalette.has(name)) inPalette.set(name, cssVar(name) !== "");
  return inPalette.get(name);
}

function hashHue(text) {
  let hash = 0;
  for (const ch of text) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return hash % 360;
}

export function serviceColor(service) {
  return paletteHas(`--svc-${service}`) ? `var(--svc-${service})` : `hsl(${hashHue(service)} 62% 62%)`;
}

// A failure reads as one whoever sends it; otherwise a type takes its family's colour (order.*).
export function typeColor(type) {
  if (/declined|cancelled|failed/.test(type)) return "var(--cancelled)";
  const family = type.split(".")[0];
  return paletteHas(`--type-${family}`) ? `var(--type-${family})` : serviceColor(family);
}
