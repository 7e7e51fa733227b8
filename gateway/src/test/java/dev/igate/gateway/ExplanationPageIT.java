package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.StaleElementReferenceException;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.Select;
import org.openqa.selenium.support.ui.WebDriverWait;
import org.springframework.boot.test.web.server.LocalServerPort;

/**
 * The explanation page in a real browser: headless Chromium (Debian's chromium and
 * chromium-driver, installed by .ci/run) types a sentence, waits for the coloured words, checks
 * them, switches between merged words and sub-word tokens, and saves a screenshot.
 */
class ExplanationPageIT extends ServerTestSupport {

    @LocalServerPort
    int port;

    WebDriver browser;

    @BeforeEach
    void openBrowser() throws Exception {
        browser = browser();
    }

    /** Headless Chromium driven by chromedriver (Debian's packages). */
    static WebDriver browser() throws Exception {
        assertThat(Path.of("/usr/bin/chromium")).as("chromium (Debian package, installed by .ci/run)").exists();
        ChromeOptions options = new ChromeOptions();
        options.setBinary("/usr/bin/chromium");
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1200,1000", "--user-data-dir=" + Files.createTempDirectory("chromium-profile"));
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(new File("/usr/bin/chromedriver")).usingAnyFreePort().build();
        return new ChromeDriver(service, options);
    }

    @AfterEach
    void closeBrowser() {
        if (browser != null) {
            browser.quit();
        }
    }

    @Test
    void typingASentenceShowsThePredictionAndColouredWords() throws Exception {
        WebDriverWait wait = new WebDriverWait(browser, Duration.ofSeconds(60));
        // the page re-renders the words on every answer: elements read mid-render go stale
        wait.ignoring(StaleElementReferenceException.class);
        browser.get("http://127.0.0.1:" + port + "/ui");
        wait.until(ExpectedConditions.numberOfElementsToBeMoreThan(By.cssSelector("#version option"), 0));
        assertThat(new Select(browser.findElement(By.id("model"))).getFirstSelectedOption().getText()).isEqualTo(MODEL);

        WebElement text = browser.findElement(By.id("text"));
        text.clear();
        text.sendKeys(SEED_TEXT);
        browser.findElement(By.id("steps")).clear();
        browser.findElement(By.id("steps")).sendKeys("20");
        browser.findElement(By.id("explain")).click();
        wait.until(ExpectedConditions.numberOfElementsToBeMoreThan(By.cssSelector("#words .word"), 3));

        assertThat(browser.findElement(By.id("prediction")).getText()).isEqualTo("Pharma-Toxico");
        List<WebElement> words = browser.findElements(By.cssSelector("#words .word"));
        assertThat(words).extracting(WebElement::getText).contains("bioavailability", "Risk");
        assertThat(words).anySatisfy(w -> assertThat(w.getAttribute("style")).contains("rgba(39, 174, 96"));
        assertThat(browser.findElements(By.cssSelector("#probabilities .bar"))).hasSize(6);
        assertThat(browser.findElement(By.id("facts")).getText()).contains("delta").contains("20 steps");
        Path shot = Path.of("target", "explanation-page.png");
        Files.write(shot, ((TakesScreenshot) browser).getScreenshotAs(OutputType.BYTES));
        assertThat(Files.size(shot)).isGreaterThan(10_000);

        // faithfulness and a contrast, asked on the page
        browser.findElement(By.id("evaluate")).click();
        browser.findElement(By.id("contrast")).sendKeys("Oncology");
        browser.findElement(By.id("explain")).click();
        wait.until(d -> d.findElement(By.id("faithfulness")).getText().contains("comprehensiveness"));
        assertThat(browser.findElement(By.id("target")).getText()).isEqualTo("Pharma-Toxico against Oncology");
        browser.findElement(By.id("evaluate")).click();
        browser.findElement(By.id("contrast")).clear();

        browser.findElement(By.id("merge")).click();
        List<String> tokens = wait.until(d -> {
            List<String> texts = d.findElements(By.cssSelector("#words .word")).stream().map(WebElement::getText).toList();
            return texts.contains("##ava") ? texts : null;
        });
        assertThat(tokens).contains("[CLS]", "bio", "##ava", "[SEP]");
    }
}
