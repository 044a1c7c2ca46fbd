import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { RunDiff } from "../api/pending";
import { DiffView } from "./DiffView";
import { fileTree } from "./fileTree";

const patch = `diff --git a/pkg/bus/publish.go b/pkg/bus/publish.go
index 1111111..2222222 100644
--- a/pkg/bus/publish.go
+++ b/pkg/bus/publish.go
@@ -10,7 +10,8 @@ func Publish(ctx context.Context) error {
 	if ctx == nil {
 		return errNilContext
 	}
-	return send(ctx)
+	// Retry once: the first PubAck may be lost.
+	return sendWithRetry(ctx, 1)
 }
 
 func send(ctx context.Context) error {
diff --git a/pkg/bus/retry_test.go b/pkg/bus/retry_test.go
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/pkg/bus/retry_test.go
@@ -0,0 +1,3 @@
+package bus
+
+func TestRetry(t *testing.T) {}
`;

const diff: RunDiff = {
  runId: "01JRUN",
  base: "abcdef0123456789",
  files: [
    { path: "pkg/bus/publish.go", status: "modified", additions: 2, deletions: 1, binary: false },
    { path: "pkg/bus/retry_test.go", status: "added", additions: 3, deletions: 0, binary: false },
    { path: "docs/diagram.png", status: "added", additions: 0, deletions: 0, binary: true },
  ],
  patch,
  truncated: false,
};

describe("the diff view", () => {
  it("lists the files as a tree with their counts and shows each file's changed lines", () => {
    const { container } = render(<DiffView diff={diff} wide={false} />);
    expect(screen.getByText(/3 files changed/)).toBeInTheDocument();
    const tree = screen.getByRole("navigation", { name: "Changed files" });
    expect(within(tree).getByText("pkg/bus/")).toBeInTheDocument();
    expect(within(tree).getByText("docs/")).toBeInTheDocument();
    expect(within(tree).getByText("publish.go").closest("button")).toHaveTextContent("+2 −1");
    // The unified diff: deleted and inserted lines of publish.go, the new test file, the binary marked.
    expect(container.querySelectorAll(".diff-code-delete").length).toBe(1);
    expect(container.querySelectorAll(".diff-code-insert").length).toBe(5);
    expect(screen.getByText(/sendWithRetry/)).toBeInTheDocument();
    expect(screen.getByText("Binary file")).toBeInTheDocument();
    expect(screen.queryByRole("status")).toBeNull();
  });

  it("switches between unified and split, selects a file from the tree and marks a cut diff", async () => {
    const { container } = render(<DiffView diff={{ ...diff, truncated: true }} wide={false} />);
    expect(screen.getByRole("status")).toHaveTextContent("cut");
    expect(container.querySelector(".diff-split")).toBeNull();
    await userEvent.click(screen.getByRole("button", { name: "Split" }));
    expect(container.querySelector(".diff-split")).not.toBeNull();
    await userEvent.click(screen.getByText("retry_test.go"));
    expect(screen.getByText("retry_test.go").closest("button")).toHaveClass("selected");
  });

  it("says when nothing changed", () => {
    render(<DiffView diff={{ ...diff, files: [], patch: "" }} />);
    expect(screen.getByText("No changes.")).toBeInTheDocument();
  });
});

describe("the file tree", () => {
  it("joins single-child folders and puts folders first", () => {
    const t = fileTree(["a/b/c/x.go", "a/b/c/y.go", "z.md", "a/d.go"], (p) => p);
    expect(t.map((n) => `${n.kind}:${n.name}`)).toEqual(["dir:a", "file:z.md"]);
    const a = t[0];
    expect(a?.kind === "dir" && a.children.map((n) => `${n.kind}:${n.name}`)).toEqual(["dir:b/c", "file:d.go"]);
  });
});
