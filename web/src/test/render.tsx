// Rendering a view as the app does: a router, a query client and the live
// board, over a fake API.
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { MemoryRouter, Route, Routes } from "react-router";
import type { Endpoints } from "../api/endpoints";
import { BoardProvider } from "../live/BoardContext";

export function renderView(path: string, route: string, element: ReactElement, opts: { api: Partial<Endpoints>; fetch?: typeof fetch }) {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={qc}>
      <MemoryRouter initialEntries={[path]}>
        <BoardProvider api={opts.api as Endpoints} fetch={opts.fetch ?? noStream} pollMs={50} notify={() => {}}>
          <Routes>
            <Route path={route} element={element} />
            <Route path="*" element={<div>elsewhere</div>} />
          </Routes>
        </BoardProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

/** noStream is a gateway without the stream: it answers 204 (nothing to send). */
export const noStream = (async () => new Response(null, { status: 204 })) as typeof fetch;
