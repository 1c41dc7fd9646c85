"""A custom command-line argument (init_command_line_parser) read from parsed_options."""

from locust import FastHttpUser, constant, events, task


@events.init_command_line_parser.add_listener
def add_arguments(parser, **kw):
    parser.add_argument("--item-count", type=int, default=3, help="items each user visits")


class Visitor(FastHttpUser):
    wait_time = constant(0.02)

    @task
    def items(self):
        for n in range(self.environment.parsed_options.item_count):
            self.client.get(f"/items/{n}", name="/items/[id]")
        self.client.get("/", name=f"/ after {self.environment.parsed_options.item_count}")
