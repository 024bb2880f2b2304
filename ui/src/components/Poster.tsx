// A poster image that falls back to a neutral placeholder when there is none.

import { useState } from 'preact/hooks';
import { urls } from '../api';
import { Icon } from './Icon';

export function Poster({ id, alt, src }: { id: number; alt: string; src?: string }) {
  const [failed, setFailed] = useState<string | null>(null);
  const url = src ?? urls.poster(id);
  if (failed === url) {
    return (
      <div class="poster-missing" role="img" aria-label={alt || 'No preview'}>
        <Icon name="film" size={22} />
      </div>
    );
  }
  return <img src={url} alt={alt} loading="lazy" decoding="async" draggable={false} onError={() => setFailed(url)} />;
}
