/**
 * Deterministic embedding backward (index_select on axis 0 with repeated ids):
 * out[id] = Σ_{i : index[i] = id} g[i], without float atomics. Kernel 1, one invocation per
 * position, links each position to the next one with the same id and clears the "leader" flag
 * (pre-filled with 1) of that next position, so only first occurrences stay leaders. Kernel 2, one invocation per (position, column), lets each leader walk its chain and
 * write the sum in position order, so the result does not depend on scheduling. Rows no id
 * selects keep the zeros the caller filled in.
 */
import type { View } from '../../../backend.js';
import type { Launch } from '../executor.js';
import {
  buffer,
  dtypeBuffer,
  ELEMENTWISE_WORKGROUP,
  enables,
  flatMain,
  grid2d,
  load,
  mathPrelude,
  store,
  uniforms,
} from './wgsl.js';

/** links [2N] int32: links[i] = next position with index[i]'s id (N if none); links[N + i] (filled with 1 first) = 0 unless i is a leader. */
export function embeddingLinksLaunch(index: View, links: View, maxWorkgroups: number): Launch {
  const n = index.shape[0];
  const words = [n, index.offset, links.offset];
  return {
    kernel: {
      key: 'embedding_backward_links',
      access: ['read_write', 'read'],
      build:
        () => `${uniforms(words.length)}${buffer(1, 'links', 'read_write', 'i32')}${buffer(2, 'ids', 'read', 'i32')}
${flatMain(ELEMENTWISE_WORKGROUP)}
  let n = p(0u);
  if (idx >= n) { return; }
  let id = ids[p(1u) + idx];
  var next = n;
  for (var j = idx + 1u; j < n; j = j + 1u) {
    if (ids[p(1u) + j] == id) { next = j; break; }
  }
  links[p(2u) + idx] = i32(next);
  // each position has at most one predecessor, so this write never races
  if (next < n) { links[p(2u) + n + next] = 0; }
}
`,
    },
    params: words,
    grid: grid2d(Math.ceil(n / ELEMENTWISE_WORKGROUP), maxWorkgroups),
  };
}

/** out [V, D] (zero-filled) += the chains of g [N, D] (contiguous). */
export function embeddingSumLaunch(
  g: View,
  index: View,
  links: View,
  out: View,
  maxWorkgroups: number,
): Launch {
  const [n, D] = g.shape;
  const rows = out.shape[0];
  const dt = g.dtype;
  const words = [n, D, g.offset, index.offset, links.offset, out.offset, rows];
  return {
    kernel: {
      key: `embedding_backward_sum:${dt}`,
      access: ['read_write', 'read', 'read', 'read'],
      build:
        () => `${enables([dt])}${uniforms(words.length)}${dtypeBuffer(1, 'out', 'read_write', dt)}${dtypeBuffer(2, 'g', 'read', dt)}${buffer(3, 'ids', 'read', 'i32')}${buffer(4, 'links', 'read', 'i32')}${mathPrelude(dt === 'float16')}
${flatMain(ELEMENTWISE_WORKGROUP)}
  let n = p(0u);
  let D = p(1u);
  if (idx >= n * D) { return; }
  let i = idx / D;
  let c = idx % D;
  if (links[p(4u) + n + i] == 0) { return; }
  let id = u32(ids[p(3u) + i]);
  if (id >= p(6u)) { return; }
  var sum = 0.0;
  var j = i;
  while (j < n) {
    sum = sum + ${load(dt, 'g', 'p(2u) + j * D + c')};
    j = u32(links[p(4u) + j]);
  }
  ${store(dt, 'out', 'p(5u) + id * D + c', 'sum')}
}
`,
    },
    params: words,
    grid: grid2d(Math.ceil((n * D) / ELEMENTWISE_WORKGROUP), maxWorkgroups),
  };
}
