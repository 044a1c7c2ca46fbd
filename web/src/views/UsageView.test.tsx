import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { Endpoints } from "../api/endpoints";
import type { UsageReport } from "../api/pending";
import { renderView } from "../test/render";
import { UsageView } from "./UsageView";

describe("the usage view", () => {
  it("asks for usage by day and the chosen key, and totals it per key", async () => {
    const asked: string[][] = [];
    const report: UsageReport = {
      groupBy: ["day", "model"],
      rows: [
        { day: "2026-11-20", model: "opus", inputTokens: 1000, outputTokens: 200, costUsd: 1.25, costEstimated: true, runs: 2 },
        { day: "2026-11-21", model: "sonnet", inputTokens: 500, outputTokens: 100, costUsd: 0.25, runs: 1 },
      ],
      total: { inputTokens: 1500, outputTokens: 300, costUsd: 1.5, runs: 3 },
    };
    const api: Partial<Endpoints> = {
      listRuns: async () => ({ runs: [], nextCursor: null }),
      usage: async (q) => {
        asked.push(q.groupBy);
        return report;
      },
    };
    renderView("/usage", "/usage", <UsageView />, { api });
    const table = await screen.findByRole("table");
    expect(within(table).getByText("opus").closest("tr")).toHaveTextContent("$1.25");
    expect(screen.getByText(/Some costs are estimated/)).toBeInTheDocument();
    expect(screen.getByText(/Total \$1\.50 · 3 runs/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Tokens" }));
    expect(within(table).getByText("opus").closest("tr")).toHaveTextContent("1.2k");
    await userEvent.selectOptions(screen.getByLabelText("Group by"), "agent");
    await screen.findAllByRole("row");
    expect(asked.at(-1)).toEqual(["day", "agent"]);
  });
});
