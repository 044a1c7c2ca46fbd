// The settings form edits leaves of the settings document by dotted path;
// what is sent is a JSON merge patch (RFC 7396) of the changed leaves only.
export type Leaf = string | number | boolean | null;

export interface LeafField {
  path: string;
  value: Leaf;
}

/** leaves lists the editable leaves of a settings document, depth first. */
export function leaves(doc: unknown, prefix = ""): LeafField[] {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    return prefix ? [{ path: prefix, value: Array.isArray(doc) ? JSON.stringify(doc) : (doc as Leaf) }] : [];
  }
  return Object.entries(doc as Record<string, unknown>).flatMap(([k, v]) => leaves(v, prefix ? `${prefix}.${k}` : k));
}

/** mergePatch builds the nested patch of the changed paths. */
export function mergePatch(changes: Record<string, Leaf>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [path, value] of Object.entries(changes)) {
    const keys = path.split(".");
    let node = out;
    keys.slice(0, -1).forEach((k) => {
      node[k] ??= {};
      node = node[k] as Record<string, unknown>;
    });
    node[keys[keys.length - 1] as string] = value;
  }
  return out;
}

/** parseLeaf reads what was typed as the type the setting had. */
export function parseLeaf(was: Leaf, typed: string | boolean): Leaf {
  if (typeof was === "boolean") return Boolean(typed);
  if (typeof was === "number") return typed === "" ? null : Number(typed);
  return String(typed);
}
