package dev.ferry.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.engine.Authority.State;
import java.util.EnumSet;
import org.junit.jupiter.api.Test;

class AuthorityTest {

  @Test
  void onlySourceAndReturned_mayResumeTheSource() {
    for (State s : State.values()) {
      Authority a = reach(s);
      assertThat(a.mayResumeSource()).as("%s", s).isEqualTo(s == State.SOURCE || s == State.RETURNED);
    }
  }

  @Test
  void afterCommit_theOnlyEndsAreDestinationReturnedInDoubtOrLost() {
    EnumSet<State> reachable = EnumSet.noneOf(State.class);
    walk(State.COMMIT_SENT, reachable);
    assertThat(reachable).doesNotContain(State.SOURCE)
        .containsExactlyInAnyOrder(State.COMMIT_SENT, State.POST_COPY, State.DESTINATION, State.RETURNED,
            State.IN_DOUBT, State.LOST);
    assertThat(Authority.next(State.POST_COPY)).as("post-copy never gives the guest back")
        .containsExactlyInAnyOrder(State.DESTINATION, State.LOST);
  }

  @Test
  void finalStates_haveNoWayOut() {
    for (State s : State.values()) {
      if (s.isFinal()) {
        assertThat(Authority.next(s)).as("%s", s).isEmpty();
      }
    }
  }

  @Test
  void transitionOutsideTheTable_throwsAndLeavesTheStateAlone() {
    Authority a = new Authority();
    assertThatThrownBy(a::returned).isInstanceOf(IllegalStateException.class).hasMessageContaining("SOURCE");
    assertThatThrownBy(a::confirmed).isInstanceOf(IllegalStateException.class);
    assertThat(a.state()).isEqualTo(State.SOURCE);
    a.commit();
    a.confirmed();
    assertThatThrownBy(a::commit).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(a::inDoubt).isInstanceOf(IllegalStateException.class);
    assertThat(a.state()).isEqualTo(State.DESTINATION);
    assertThat(a.mayResumeSource()).isFalse();
  }

  private static void walk(State from, EnumSet<State> seen) {
    if (!seen.add(from)) {
      return;
    }
    for (State n : Authority.next(from)) {
      walk(n, seen);
    }
  }

  private static Authority reach(State s) {
    Authority a = new Authority();
    switch (s) {
      case SOURCE -> { }
      case COMMIT_SENT -> a.commit();
      case POST_COPY -> {
        a.commit();
        a.postCopyRunning();
      }
      case DESTINATION -> {
        a.commit();
        a.confirmed();
      }
      case RETURNED -> {
        a.commit();
        a.returned();
      }
      case IN_DOUBT -> {
        a.commit();
        a.inDoubt();
      }
      case LOST -> {
        a.commit();
        a.postCopyRunning();
        a.lost();
      }
      default -> throw new AssertionError(s);
    }
    assertThat(a.state()).isEqualTo(s);
    return a;
  }
}
