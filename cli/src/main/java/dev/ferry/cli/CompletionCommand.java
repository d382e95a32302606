package dev.ferry.cli;

import java.util.concurrent.Callable;
import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code ferry completion}: prints the bash (and zsh, with bashcompinit) completion script of the whole command. */
@Command(name = "completion", mixinStandardHelpOptions = true,
    description = {"Print the bash completion script of ferry.",
        "Use it with: source <(ferry completion), or save it under /etc/bash_completion.d/ferry."})
final class CompletionCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    CommandLine root = spec.commandLine().getParent();
    System.out.print(AutoComplete.bash(root.getCommandName(), root));
    return ExitCodes.OK;
  }
}
