/* One function per `tailquant VERB`. Each returns a process exit code (tq_exit_code): 0 success,
 * 2 bad input (a message naming the file, line, key or value was printed), 130 a run stopped by
 * SIGINT/SIGTERM after writing a checkpoint, 1 anything else (a worker that missed the
 * deadline, TQ_ETIMEOUT, included). Messages start "tailquant VERB: " (tq_cli_report), except
 * a failure during training under MPI, which the failing rank prints as "tailquant: rank R of
 * N (host): " before it ends the job (tq_mpi_abort). */
#ifndef TQ_CLI_COMMANDS_H
#define TQ_CLI_COMMANDS_H

int tq_cmd_devices(int argc, char **argv);
int tq_cmd_train(int argc, char **argv);
int tq_cmd_bench(int argc, char **argv);
int tq_cmd_quantize(int argc, char **argv);
int tq_cmd_report(int argc, char **argv);
int tq_cmd_tune(int argc, char **argv);

/* tailquant bench sub-commands (host/cli/bench_*.c). */
int tq_bench_train(int argc, char **argv);
int tq_bench_quant(int argc, char **argv);
int tq_bench_step(int argc, char **argv);

/* Prints "tailquant VERB: <message>" (the status's name if msg is empty) to stderr unless status
 * is TQ_OK, and returns the exit code for the status. */
int tq_cli_report(const char *verb, int status, const char *msg);

#endif
