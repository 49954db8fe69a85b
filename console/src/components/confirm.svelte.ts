/** One confirmation dialog for the whole console: `await confirmAction(...)` answers true or false. */

interface Pending {
  title: string;
  body: string;
  confirmLabel: string;
  danger: boolean;
  resolve: (ok: boolean) => void;
}

let pending = $state<Pending | null>(null);

export const confirmation = {
  get current(): Pending | null {
    return pending;
  },
};

export function confirmAction(
  title: string,
  body: string,
  confirmLabel = 'Confirm',
  danger = true,
): Promise<boolean> {
  pending?.resolve(false);
  return new Promise((resolve) => {
    pending = { title, body, confirmLabel, danger, resolve };
  });
}

export function settle(ok: boolean): void {
  const current = pending;
  pending = null;
  current?.resolve(ok);
}
