//! A line diff (Myers' O(ND) algorithm on the lines between the common prefix and suffix), to
//! find where two nearly identical texts differ.

/// One step of an edit script from `a` to `b`, by line index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Equal(usize, usize),
    Delete(usize),
    Insert(usize),
}

/// The most edits [`diff`] searches for a shortest script before it gives up and reports the
/// whole differing middle as one change (keeps time and memory bounded on unrelated texts).
const MAX_EDITS: usize = 1_000;

/// Splits after each `\n`; a last line without one is a line too.
pub fn split_lines(text: &[u8]) -> Vec<&[u8]> {
    text.split_inclusive(|&b| b == b'\n').collect()
}

/// An edit script turning `a` into `b`: shortest when the two differ in at most a thousand
/// lines, else one block replacing the differing middle.
pub fn diff(a: &[&[u8]], b: &[&[u8]]) -> Vec<Op> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix =
        a[prefix..].iter().rev().zip(b[prefix..].iter().rev()).take_while(|(x, y)| x == y).count();
    let (am, bm) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut ops: Vec<Op> = (0..prefix).map(|i| Op::Equal(i, i)).collect();
    match myers(am, bm, MAX_EDITS) {
        Some(mid) => ops.extend(mid.into_iter().map(|op| match op {
            Op::Equal(x, y) => Op::Equal(x + prefix, y + prefix),
            Op::Delete(x) => Op::Delete(x + prefix),
            Op::Insert(y) => Op::Insert(y + prefix),
        })),
        None => {
            ops.extend((0..am.len()).map(|x| Op::Delete(x + prefix)));
            ops.extend((0..bm.len()).map(|y| Op::Insert(y + prefix)));
        }
    }
    let (sa, sb) = (a.len() - suffix, b.len() - suffix);
    ops.extend((0..suffix).map(|i| Op::Equal(sa + i, sb + i)));
    ops
}

/// Myers' greedy shortest edit script, or `None` when it needs more than `max_d` edits.
fn myers(a: &[&[u8]], b: &[&[u8]], max_d: usize) -> Option<Vec<Op>> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let limit = (a.len() + b.len()).min(max_d);
    let off = limit as isize + 1;
    let mut v = vec![0isize; 2 * limit + 3];
    // trace[d]: the furthest x on each diagonal k in -d..=d before step d (index k + d).
    let mut trace: Vec<Vec<isize>> = Vec::new();
    for d in 0..=limit as isize {
        trace.push(v[(off - d) as usize..=(off + d) as usize].to_vec());
        for k in (-d..=d).step_by(2) {
            let at = |k: isize| (off + k) as usize;
            let mut x = if k == -d || (k != d && v[at(k - 1)] < v[at(k + 1)]) {
                v[at(k + 1)]
            } else {
                v[at(k - 1)] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[at(k)] = x;
            if x >= n && y >= m {
                return Some(backtrack(&trace, n, m));
            }
        }
    }
    None
}

fn backtrack(trace: &[Vec<isize>], n: isize, m: isize) -> Vec<Op> {
    let (mut x, mut y) = (n, m);
    let mut ops = Vec::new();
    for d in (1..trace.len() as isize).rev() {
        let prev = &trace[d as usize];
        let at = |k: isize| (k + d) as usize;
        let k = x - y;
        let prev_k =
            if k == -d || (k != d && prev[at(k - 1)] < prev[at(k + 1)]) { k + 1 } else { k - 1 };
        let prev_x = prev[at(prev_k)];
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            x -= 1;
            y -= 1;
            ops.push(Op::Equal(x as usize, y as usize));
        }
        if x == prev_x {
            y -= 1;
            ops.push(Op::Insert(y as usize));
        } else {
            x -= 1;
            ops.push(Op::Delete(x as usize));
        }
    }
    while x > 0 && y > 0 {
        x -= 1;
        y -= 1;
        ops.push(Op::Equal(x as usize, y as usize));
    }
    ops.reverse();
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<&[u8]> {
        split_lines(s.as_bytes())
    }

    /// Applies an edit script and checks it covers both texts in order.
    fn check(a: &str, b: &str) -> usize {
        let (la, lb) = (lines(a), lines(b));
        let ops = diff(&la, &lb);
        let (mut ia, mut ib, mut edits) = (0, 0, 0);
        let mut rebuilt: Vec<&[u8]> = Vec::new();
        for op in ops {
            match op {
                Op::Equal(x, y) => {
                    assert_eq!((x, y), (ia, ib));
                    assert_eq!(la[x], lb[y]);
                    rebuilt.push(lb[y]);
                    ia += 1;
                    ib += 1;
                }
                Op::Delete(x) => {
                    assert_eq!(x, ia);
                    ia += 1;
                    edits += 1;
                }
                Op::Insert(y) => {
                    assert_eq!(y, ib);
                    rebuilt.push(lb[y]);
                    ib += 1;
                    edits += 1;
                }
            }
        }
        assert_eq!((ia, ib), (la.len(), lb.len()));
        assert_eq!(rebuilt.concat(), b.as_bytes());
        edits
    }

    #[test]
    fn finds_shortest_scripts() {
        assert_eq!(check("", ""), 0);
        assert_eq!(check("a\nb\nc\n", "a\nb\nc\n"), 0);
        assert_eq!(check("a\nb\nc\n", "a\nx\nc\n"), 2);
        assert_eq!(check("a\nb\nc\n", "a\nc\n"), 1);
        assert_eq!(check("a\nc\n", "a\nb\nc\n"), 1);
        assert_eq!(check("", "a\nb\n"), 2);
        assert_eq!(check("a\nb\n", ""), 2);
        // The classic example: ABCABBA → CBABAC has distance 5.
        assert_eq!(check("a\nb\nc\na\nb\nb\na\n", "c\nb\na\nb\na\nc\n"), 5);
        assert_eq!(check("x\na\nb\nc\ny\n", "z\na\nb\nc\nw\n"), 4);
        assert_eq!(check("a\nb", "a\nb\n"), 2);
    }

    #[test]
    fn gives_up_on_unrelated_texts_with_one_replace() {
        let a: String = (0..3000).map(|i| format!("a{i}\n")).collect();
        let b: String = (0..3000).map(|i| format!("b{i}\n")).collect();
        let text_a = format!("head\n{a}tail\n");
        let text_b = format!("head\n{b}tail\n");
        assert_eq!(check(&text_a, &text_b), 6000);
    }
}
