//! Round-robin rings of class indices: HTB's "rows" (per level and
//! priority, the classes that may send at that level) and "feeds" (per inner
//! class and priority, the borrowing children).
//!
//! The kernel keeps these in rbtrees ordered by class id with a cursor, so
//! a class that leaves (it flips between "can send" and "may borrow" all
//! the time) comes back to the *same place* in the round. Re-inserting at
//! the tail instead would push classes that flip often behind the others
//! again and again, and borrowed bandwidth would stop following the quanta.
//! Here a leaving class is only *detached*: it keeps its place as a ghost,
//! and re-attaching is O(1). When service reaches a ghost its turn is gone
//! (as with the kernel's cursor) and it is unlinked; had it come back it
//! would have been served after everyone else anyway, which is where a
//! later attach puts it. So each detach costs at most one skip: no scans.
//! No allocation; the links live with the classes (one set per ring
//! family and priority).

/// "No class".
pub(crate) const NIL: u32 = u32::MAX;

/// One class's links in one ring.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Link {
    prev: u32,
    next: u32,
    attached: bool,
}

impl Default for Link {
    fn default() -> Self {
        Link {
            prev: NIL,
            next: NIL,
            attached: false,
        }
    }
}

/// One ring; `head` is where service resumes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ring {
    head: u32,
    attached: u32,
}

impl Default for Ring {
    fn default() -> Self {
        Ring {
            head: NIL,
            attached: 0,
        }
    }
}

impl Ring {
    /// True when some class in the ring can be served.
    pub(crate) fn has_attached(&self) -> bool {
        self.attached > 0
    }

    /// Makes `id` servable: a ghost regains its old place, a new class
    /// joins at the tail (served last in this round).
    pub(crate) fn attach(&mut self, links: &mut [Link], id: u32) {
        let i = id as usize;
        if links[i].prev == NIL {
            if self.head == NIL {
                links[i].prev = id;
                links[i].next = id;
                self.head = id;
            } else {
                let head = self.head;
                let tail = links[head as usize].prev;
                links[i].prev = tail;
                links[i].next = head;
                links[tail as usize].next = id;
                links[head as usize].prev = id;
            }
        }
        if !links[i].attached {
            links[i].attached = true;
            self.attached += 1;
        }
    }

    /// Makes `id` a ghost: skipped by service, place kept.
    pub(crate) fn detach(&mut self, links: &mut [Link], id: u32) {
        let l = &mut links[id as usize];
        if l.attached {
            l.attached = false;
            self.attached -= 1;
        }
    }

    fn unlink(&mut self, links: &mut [Link], id: u32) {
        self.detach(links, id);
        let i = id as usize;
        let Link { prev, next, .. } = links[i];
        if prev == NIL {
            return;
        }
        if next == id {
            self.head = NIL;
        } else {
            links[prev as usize].next = next;
            links[next as usize].prev = prev;
            if self.head == id {
                self.head = next;
            }
        }
        links[i] = Link::default();
    }

    /// The class to serve: the first attached one from the head on, which
    /// becomes the head. Ghosts passed on the way lose their turn and
    /// their place.
    pub(crate) fn serve(&mut self, links: &mut [Link]) -> Option<u32> {
        if self.attached == 0 {
            return None;
        }
        loop {
            let h = self.head;
            if links[h as usize].attached {
                return Some(h);
            }
            self.unlink(links, h);
        }
    }

    /// Ends the head's turn.
    pub(crate) fn advance(&mut self, links: &[Link]) {
        if self.head != NIL {
            self.head = links[self.head as usize].next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(r: &Ring, links: &[Link]) -> Vec<(u32, bool)> {
        let mut out = Vec::new();
        if r.head == NIL {
            return out;
        }
        let mut c = r.head;
        loop {
            out.push((c, links[c as usize].attached));
            c = links[c as usize].next;
            if c == r.head {
                return out;
            }
        }
    }

    #[test]
    fn attach_detach_serve_advance() {
        let mut links = vec![Link::default(); 4];
        let mut r = Ring::default();
        assert_eq!(r.serve(&mut links), None);
        for id in [0, 1, 2] {
            r.attach(&mut links, id);
        }
        assert_eq!(r.serve(&mut links), Some(0));
        r.advance(&links);
        assert_eq!(r.serve(&mut links), Some(1));
        // 1 leaves mid-turn and comes back before service: still its turn.
        r.detach(&mut links, 1);
        r.attach(&mut links, 1);
        assert_eq!(r.serve(&mut links), Some(1));
        // 2 leaves and returns: same place, not the tail.
        r.detach(&mut links, 2);
        r.attach(&mut links, 3);
        r.attach(&mut links, 2);
        assert_eq!(
            order(&r, &links),
            [(1, true), (2, true), (0, true), (3, true)]
        );
        // A ghost reached by service loses its turn and its place.
        r.detach(&mut links, 1);
        r.detach(&mut links, 2);
        assert_eq!(r.serve(&mut links), Some(0));
        assert_eq!(order(&r, &links), [(0, true), (3, true)]);
        r.attach(&mut links, 2);
        assert_eq!(order(&r, &links), [(0, true), (3, true), (2, true)]);
        r.detach(&mut links, 0);
        r.detach(&mut links, 3);
        r.detach(&mut links, 2);
        assert!(!r.has_attached());
        assert_eq!(r.serve(&mut links), None);
        r.attach(&mut links, 1);
        assert_eq!(r.serve(&mut links), Some(1));
        assert_eq!(order(&r, &links), [(1, true)], "ghosts passed are unlinked");
    }
}
