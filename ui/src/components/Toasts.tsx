import { useLayoutEffect, useRef } from 'preact/hooks';
import { dismissToast, useStore } from '../store';

const popoverSupported = typeof HTMLElement !== 'undefined' && 'showPopover' in HTMLElement.prototype;
import { Icon } from './Icon';

export function Toasts() {
  const toasts = useStore((s) => s.toasts);
  const ref = useRef<HTMLDivElement>(null);
  // In the top layer (as a popover), so messages show above an open modal dialog;
  // re-shown on each new message to stay above a dialog opened since.
  useLayoutEffect(() => {
    const el = ref.current as (HTMLDivElement & { showPopover?: () => void; hidePopover?: () => void }) | null;
    if (!el || !popoverSupported) return;
    try {
      // Hiding and showing again moves it to the top of the top layer.
      if (el.matches(':popover-open') && document.querySelector('dialog[open]')) el.hidePopover?.();
      if (!el.matches(':popover-open')) el.showPopover?.();
    } catch {
      /* not supported */
    }
  }, [toasts]);
  return (
    <div
      ref={ref}
      class="toasts"
      aria-live="polite"
      aria-relevant="additions"
      {...(popoverSupported ? { popover: 'manual' } : {})}
    >
      {toasts.map((t) => (
        <div
          key={t.id}
          class={`toast toast-${t.kind}`}
          role={t.kind === 'error' ? 'alert' : 'status'}
          data-testid={`toast-${t.kind}`}
        >
          <Icon name={t.kind === 'error' ? 'alert' : t.kind === 'success' ? 'check' : 'info'} />
          <span class="toast-text">{t.text.charAt(0).toUpperCase() + t.text.slice(1)}</span>
          {t.action ? (
            <button
              type="button"
              class="btn btn-small btn-ghost"
              onClick={() => {
                t.action?.run();
                dismissToast(t.id);
              }}
            >
              {t.action.label}
            </button>
          ) : null}
          <button type="button" class="btn-icon btn-small" aria-label="Dismiss" onClick={() => dismissToast(t.id)}>
            <Icon name="close" size={14} />
          </button>
        </div>
      ))}
    </div>
  );
}
