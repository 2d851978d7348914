#!/usr/bin/env python3
"""End-to-end test of the Sluice web console in headless Chromium (Selenium 4).

Signs in (a wrong password first), creates a Kafka API and configures its backend service
(producer, SASL_SSL with a PLAIN JAAS line, a PKCS12 trust store) without deploying it, reloads
and checks that secrets come back masked and everything else as typed; then creates an MQTT 5
API, checks that the form refuses reconnect attempts 11 (an error next to the field, save
refused), saves it with 5, deploys it and sees a message POSTed to the gateway arrive on an SSE
stream of the same API.

Environment:
  CONSOLE_URL     the console, e.g. http://127.0.0.1:18183/console/
  GATEWAY_URL     the gateway, e.g. http://127.0.0.1:18182
  ADMIN_PASSWORD  the password of the user admin
  MQTT_PORT       a Mosquitto on 127.0.0.1 that lets anonymous clients in
  SCREENSHOT_DIR  where a PNG of each step is written

Exit status 0 when every check passed; otherwise what failed is printed, a screenshot
(failure.png) is saved and the status is 1.
"""

import json
import os
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

WAIT_SECONDS = 20  # the longest any single wait may take
MESSAGE_SECONDS = 10  # how soon the SSE stream must deliver the POSTed message
JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";'
MASK = '********'
MESSAGE = 'hello-from-console'


class CheckFailed(Exception):
    """A check of the flow did not hold."""


def environment(name):
    value = os.environ.get(name)
    if not value:
        raise CheckFailed(f"the environment variable {name} is not set")
    return value


class ConsoleFlow:
    def __init__(self):
        self.console_url = environment("CONSOLE_URL")
        self.gateway_url = environment("GATEWAY_URL").rstrip("/")
        self.password = environment("ADMIN_PASSWORD")
        self.mqtt_port = environment("MQTT_PORT")
        self.screenshots = environment("SCREENSHOT_DIR")
        os.makedirs(self.screenshots, exist_ok=True)
        parts = urllib.parse.urlsplit(self.console_url)
        self.management_url = f"{parts.scheme}://{parts.netloc}"
        self.started = time.monotonic()
        self.step_name = "start"
        self.shot_count = 0
        self.driver = None

    # --- browser helpers ------------------------------------------------------------------

    def start_browser(self):
        options = Options()
        options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         "--window-size=1366,768", "--lang=en-US"):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.set_page_load_timeout(WAIT_SECONDS)
        self.driver.set_script_timeout(WAIT_SECONDS)

    def step(self, name):
        self.step_name = name
        print(f"[{time.monotonic() - self.started:5.1f} s] {name}", flush=True)

    def wait_for(self, condition, what):
        try:
            return WebDriverWait(self.driver, WAIT_SECONDS, poll_frequency=0.1).until(lambda driver: condition())
        except TimeoutException:
            raise CheckFailed(f"waited {WAIT_SECONDS} s for {what}") from None

    def element(self, element_id):
        """The element with this id (a document path such as endpointGroups[0].name), once shown."""
        def shown():
            found = self.driver.find_elements(By.ID, element_id)
            return found[0] if found and found[0].is_displayed() else None
        return self.wait_for(shown, f"#{element_id} to be shown")

    def hidden(self, element_id):
        found = self.driver.find_elements(By.ID, element_id)
        return not found or not found[0].is_displayed()

    def type_into(self, element_id, text):
        field = self.element(element_id)
        field.clear()
        field.send_keys(text)
        return field

    def choose(self, element_id, value):
        Select(self.element(element_id)).select_by_value(value)

    def tick(self, element_id, on=True):
        box = self.element(element_id)
        if box.is_selected() != on:
            box.click()

    def click(self, element_id):
        button = self.element(element_id)
        self.wait_for(lambda: button.is_enabled(), f"#{element_id} to be enabled")
        button.click()

    def value(self, element_id):
        return self.element(element_id).get_attribute("value")

    def text(self, element_id):
        return self.element(element_id).text

    def wait_text(self, element_id, expected):
        self.wait_for(lambda: expected in self.text(element_id),
                      f"#{element_id} to say “{expected}” (it says “{self.safe_text(element_id)}”)")

    def safe_text(self, element_id):
        found = self.driver.find_elements(By.ID, element_id)
        return found[0].text if found else "(not there)"

    def check(self, condition, message):
        if not condition:
            raise CheckFailed(message)

    def check_accessible(self):
        """Every control of the page has a label, and no id is used twice (ids are field paths)."""
        problems = self.driver.execute_script("""
            const problems = [];
            const seen = new Set();
            for (const element of document.querySelectorAll('[id]')) {
              if (seen.has(element.id)) problems.push(`the id ${element.id} is used twice`);
              seen.add(element.id);
            }
            for (const control of document.querySelectorAll('input, select, textarea')) {
              if (!control.labels || control.labels.length === 0) problems.push(`${control.id || control.name} has no label`);
            }
            return problems;""")
        self.check(not problems, "; ".join(problems[:10]))

    def shot(self, name, element_id=None):
        """A PNG of the window (1366x768), with `element_id` scrolled into view first."""
        self.check_accessible()
        if element_id:
            self.driver.execute_script(
                "document.getElementById(arguments[0])?.scrollIntoView({block: 'center'})", element_id)
        else:
            self.driver.execute_script("window.scrollTo(0, 0)")
        self.shot_count += 1
        path = os.path.join(self.screenshots, f"{self.shot_count:02d}-{name}.png")
        self.driver.save_screenshot(path)

    def open_tab(self, name):
        self.click(f"tab-{name}")
        self.wait_for(lambda: self.element(f"tab-{name}").get_attribute("aria-selected") == "true", f"the {name} tab")
        self.element(f"panel-{name}")

    # --- management API (to start from a clean store) --------------------------------------

    def management(self, method, path, body=None, token=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.management_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=WAIT_SECONDS) as response:
            text = response.read().decode()
            return json.loads(text) if text else None

    def remove_leftovers(self):
        """APIs an earlier run left behind would make the creations below fail (409)."""
        try:
            token = self.management("POST", "/management/token", {"username": "admin", "password": self.password})["token"]
        except (urllib.error.URLError, OSError) as error:
            raise CheckFailed(f"no management token from {self.management_url}: {error}") from None
        for api_id in ("orders", "telemetry"):
            try:
                self.management("DELETE", f"/management/apis/{api_id}", token=token)
                print(f"  removed the API {api_id} left by an earlier run")
            except urllib.error.HTTPError as error:
                if error.code != 404:
                    raise

    # --- the flow -------------------------------------------------------------------------

    def run(self):
        self.step("clean store")
        self.remove_leftovers()
        self.start_browser()
        self.sign_in()
        self.kafka_api()
        self.mqtt_api()
        self.message_flow()

    def sign_in(self):
        self.step("sign-in page")
        self.driver.get(self.console_url)
        self.element("password")
        self.shot("sign-in")

        self.step("a wrong password is refused")
        self.type_into("username", "admin")
        self.type_into("password", "not-the-password")
        self.click("sign-in-submit")
        self.wait_text("sign-in-error", "Wrong user name or password")
        self.shot("sign-in-refused")

        self.step("sign in")
        self.type_into("password", self.password)
        self.click("sign-in-submit")
        self.element("new-api-form")
        self.wait_for(lambda: self.driver.find_element(By.TAG_NAME, "h1").text == "APIs", "the APIs page")
        self.shot("apis")

    def new_api(self, name, path, endpoint_type):
        self.click("nav-apis")
        self.element("new-api-form")
        self.type_into("new-api.name", name)
        self.type_into("new-api.path", path)
        self.choose("new-api.endpointType", endpoint_type)
        self.click("new-api-create")
        self.wait_for(lambda: "#/apis/new" in self.driver.current_url, "the new API's page")
        self.element("tab-endpoints")

    def entrypoint_qos_choices(self, entrypoint_type):
        """The QoS levels offered for the entrypoint of this type on the Entrypoints tab."""
        card = self.wait_for(
            lambda: self.driver.find_element(By.CSS_SELECTOR, f'section.entrypoint[data-type="{entrypoint_type}"]'),
            f"the {entrypoint_type} entrypoint")
        select = card.find_element(By.CSS_SELECTOR, 'select[id$=".qos"]')
        return [option.get_attribute("value") for option in select.find_elements(By.TAG_NAME, "option")]

    def kafka_api(self):
        group = "endpointGroups[0].sharedConfiguration"
        endpoint = "endpointGroups[0].endpoints[0].configuration"

        self.step("create the API orders (Kafka)")
        self.new_api("orders", "/orders", "kafka")
        self.open_tab("general")
        self.check(self.value("name") == "orders", "the General tab does not show the name orders")
        self.check(self.value("listeners[0].paths[0].path") == "/orders", "the General tab does not show the path /orders")
        self.shot("orders-general")
        self.open_tab("entrypoints")
        choices = self.entrypoint_qos_choices("http-post")
        self.check(choices == ["none", "auto"], f"HTTP POST in front of Kafka offers QoS {choices}, not none and auto")
        self.shot("orders-entrypoints")

        self.step("configure the Kafka backend service")
        self.open_tab("endpoints")
        self.type_into(f"{endpoint}.bootstrapServers", "127.0.0.1:9092")
        self.check(self.hidden(f"{group}.producer.topics"), "the producer's topics are shown while the producer is off")
        self.tick(f"{group}.producer.enabled")
        self.type_into(f"{group}.producer.topics[0]", "orders")
        self.check(self.hidden(f"{group}.security.sasl"), "the SASL section is shown with protocol PLAINTEXT")
        self.choose(f"{group}.security.protocol", "SASL_SSL")
        self.element(f"{group}.security.sasl")  # appears with the choice that needs it
        self.choose(f"{group}.security.sasl.saslMechanism", "PLAIN")
        jaas = self.type_into(f"{group}.security.sasl.saslJaasConfig", JAAS)
        self.check(jaas.get_attribute("type") == "password", "the JAAS configuration (a secret) is not a password field")
        self.choose(f"{group}.security.ssl.trustStore.type", "PKCS12")
        self.type_into(f"{group}.security.ssl.trustStore.certificates", "MIIB")
        self.type_into(f"{group}.security.ssl.trustStore.password", "trust-store-secret")
        self.shot("orders-endpoints-filled", f"{group}.security.sasl")

        self.step("save the API orders")
        self.click("save-api")
        self.wait_for(lambda: "#/apis/orders" in self.driver.current_url, "the saved API's address")
        self.wait_text("announcer", "API orders created")
        self.wait_text("deployment-status", "Not deployed")

        self.step("reload: secrets masked, the rest as typed")
        self.driver.refresh()
        self.open_tab("endpoints")
        expected = {
            f"{endpoint}.bootstrapServers": "127.0.0.1:9092",
            f"{group}.producer.topics[0]": "orders",
            f"{group}.security.protocol": "SASL_SSL",
            f"{group}.security.sasl.saslMechanism": "PLAIN",
            f"{group}.security.sasl.saslJaasConfig": MASK,
            f"{group}.security.ssl.trustStore.type": "PKCS12",
            f"{group}.security.ssl.trustStore.certificates": "MIIB",
            f"{group}.security.ssl.trustStore.password": MASK,
        }
        for field, value in expected.items():
            actual = self.value(field)
            self.check(actual == value, f"after a reload {field} is “{actual}”, not “{value}”")
        self.check(self.element(f"{group}.producer.enabled").is_selected(), "after a reload the producer is off")
        self.check(self.element(f"{group}.security.ssl.trustStore.password").get_attribute("type") == "password",
                   "the trust store password is not a password field")
        self.shot("orders-reloaded", f"{group}.security.sasl")

        self.step("save again unchanged: the masks keep the secrets, the revision stays")
        self.click("save-api")
        self.wait_text("announcer", "Saved: revision 1.")
        self.check(self.hidden("problems-summary"), f"saving again was refused: {self.safe_text('problems-summary')}")

    def mqtt_api(self):
        group = "endpointGroups[0].sharedConfiguration"
        endpoint = "endpointGroups[0].endpoints[0].configuration"
        attempts = f"{group}.reconnectAttempts"

        self.step("create the API telemetry (MQTT 5)")
        self.new_api("telemetry", "/telemetry", "mqtt5")
        self.open_tab("endpoints")
        self.type_into(f"{endpoint}.serverHost", "127.0.0.1")
        self.type_into(f"{endpoint}.serverPort", self.mqtt_port)
        self.tick(f"{group}.producer.enabled")
        # A topic the schema allows but the server refuses (checked below): a wildcard.
        self.type_into(f"{group}.producer.topic", "console/+")
        self.tick(f"{group}.consumer.enabled")
        self.type_into(f"{group}.consumer.topic", "console/telemetry")

        self.step("reconnect attempts 11 is refused by the form")
        self.check(self.value(attempts) == "3", f"reconnect attempts does not show its default 3 but “{self.value(attempts)}”")
        self.type_into(attempts, "11")
        self.wait_text(f"{attempts}--error", "between 0 and 10")
        self.check(self.element(attempts).get_attribute("aria-invalid") == "true", "reconnect attempts 11 is not marked invalid")
        self.shot("telemetry-refused-field", attempts)
        self.click("save-api")
        self.wait_text("problems-summary", "Not saved")
        self.wait_text("problems-summary", "Reconnect attempts")
        self.check("#/apis/new" in self.driver.current_url, "the API was saved with reconnect attempts 11")
        self.shot("telemetry-refused-save")

        self.step("reconnect attempts 5 is accepted")
        self.type_into(attempts, "5")
        self.wait_for(lambda: self.hidden(f"{attempts}--error"), "the reconnect attempts error to go")

        self.step("the server's refusal (422) is shown next to the field it names")
        self.click("save-api")
        self.wait_text("problems-summary", "Not saved")
        self.wait_text(f"{group}.producer.topic--error", "without the wildcards")
        self.check(self.element(f"{group}.producer.topic").get_attribute("aria-invalid") == "true",
                   "the producer topic the server refused is not marked invalid")
        self.shot("telemetry-server-refusal", f"{group}.producer.topic")
        self.type_into(f"{group}.producer.topic", "console/telemetry")
        self.wait_for(lambda: self.hidden(f"{group}.producer.topic--error"), "the producer topic error to go")
        self.click("save-api")
        self.wait_text("announcer", "API telemetry created")
        self.check(self.value(attempts) == "5", "reconnect attempts is not 5 after saving")
        self.open_tab("entrypoints")
        choices = self.entrypoint_qos_choices("sse")
        self.check(choices == ["none", "auto", "at-most-once", "at-least-once"], f"SSE in front of MQTT 5 offers QoS {choices}")
        self.shot("telemetry-entrypoints")

        self.step("deploy the API telemetry")
        self.click("deploy-api")
        self.wait_for(lambda: self.element("deployment-status").get_attribute("data-deployed") == "true",
                      f"the deployment status to say deployed (it says “{self.safe_text('deployment-status')}”, "
                      f"problems: “{self.safe_text('problems-summary')}”)")
        self.wait_text("deployment-status", "Deployed: revision 1 of 1, running")
        self.shot("telemetry-deployed")

    def message_flow(self):
        self.step("a message POSTed to /telemetry arrives on its SSE stream")
        url = f"{self.gateway_url}/telemetry"
        received = threading.Event()
        connected = threading.Event()
        lines = []
        failure = []

        def listen():
            try:
                request = urllib.request.Request(url, headers={"Accept": "text/event-stream"})
                with urllib.request.urlopen(request, timeout=WAIT_SECONDS) as stream:
                    connected.set()
                    for raw in stream:
                        line = raw.decode("utf-8", "replace").rstrip("\r\n")
                        lines.append(line)
                        if line.startswith("data:") and MESSAGE in line:
                            received.set()
                            return
            except Exception as error:  # reported by the main thread
                failure.append(error)
                connected.set()

        threading.Thread(target=listen, daemon=True).start()
        self.check(connected.wait(WAIT_SECONDS), "the SSE stream did not open")
        self.check(not failure, f"the SSE stream failed: {failure and failure[0]}")
        # The consumer subscribes as the stream opens; publish again every 2 s until it sees one.
        deadline = time.monotonic() + MESSAGE_SECONDS
        while not received.is_set() and time.monotonic() < deadline:
            request = urllib.request.Request(url, data=MESSAGE.encode(), method="POST",
                                             headers={"Content-Type": "text/plain"})
            with urllib.request.urlopen(request, timeout=WAIT_SECONDS) as response:
                self.check(response.status == 202, f"POST {url} answered {response.status}, not 202")
            received.wait(min(2, max(0.0, deadline - time.monotonic())))
        self.check(received.is_set(),
                   f"the SSE stream did not receive “{MESSAGE}” within {MESSAGE_SECONDS} s; it read {lines[-10:]}"
                   + (f"; it failed: {failure[0]}" if failure else ""))

    # --- reporting ------------------------------------------------------------------------

    def report_failure(self, error):
        print(f"FAILED in step “{self.step_name}”: {error}", flush=True)
        if not isinstance(error, CheckFailed):
            traceback.print_exc()
        if self.driver is None:
            return
        try:
            path = os.path.join(self.screenshots, "failure.png")
            self.driver.save_screenshot(path)
            print(f"  screenshot: {path}; page: {self.driver.current_url}")
            for entry in self.driver.get_log("browser"):
                if entry.get("level") in ("SEVERE", "WARNING"):
                    print(f"  browser console: {entry['message']}")
        except Exception as problem:  # the browser itself may be gone
            print(f"  (no screenshot: {problem})")


def main():
    flow = None
    try:
        flow = ConsoleFlow()
        flow.run()
    except Exception as error:
        if flow is None:
            print(f"FAILED: {error}")
        else:
            flow.report_failure(error)
        return 1
    finally:
        if flow is not None and flow.driver is not None:
            flow.driver.quit()
    print(f"console flow passed in {time.monotonic() - flow.started:.1f} s ({flow.shot_count} screenshots in {flow.screenshots})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
