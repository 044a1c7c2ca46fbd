// fileTree arranges changed files as folders and files (folders with a
// single child folder are joined: src/api/ rather than src/ > api/).
export interface TreeFile<T> {
  kind: "file";
  name: string;
  path: string;
  file: T;
}

export interface TreeDir<T> {
  kind: "dir";
  name: string;
  path: string;
  children: TreeNode<T>[];
}

export type TreeNode<T> = TreeFile<T> | TreeDir<T>;

export function fileTree<T>(files: readonly T[], pathOf: (f: T) => string): TreeNode<T>[] {
  const root: TreeDir<T> = { kind: "dir", name: "", path: "", children: [] };
  for (const f of files) {
    const parts = pathOf(f).split("/").filter(Boolean);
    let dir = root;
    parts.forEach((name, i) => {
      const path = parts.slice(0, i + 1).join("/");
      if (i === parts.length - 1) {
        dir.children.push({ kind: "file", name, path, file: f });
        return;
      }
      let next = dir.children.find((c): c is TreeDir<T> => c.kind === "dir" && c.name === name);
      if (!next) {
        next = { kind: "dir", name, path, children: [] };
        dir.children.push(next);
      }
      dir = next;
    });
  }
  const squash = (n: TreeNode<T>): TreeNode<T> => {
    if (n.kind === "file") return n;
    let d = n;
    while (d.children.length === 1 && d.children[0]?.kind === "dir" && d.name !== "") {
      const only = d.children[0];
      d = { ...only, name: `${d.name}/${only.name}` };
    }
    const children = d.children.map(squash).sort((a, b) => (a.kind === b.kind ? a.name.localeCompare(b.name) : a.kind === "dir" ? -1 : 1));
    return { ...d, children };
  };
  return (squash(root) as TreeDir<T>).children;
}
